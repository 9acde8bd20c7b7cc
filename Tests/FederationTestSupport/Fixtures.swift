public import FederatedCore
public import FederationProtocol
public import FederationServer
import Foundation
public import LanguageModelTypes
import RunStore

/// Small federated runs that finish in a second or two in debug builds, shared by the test
/// targets that run them (FederationTests, QuantizationBenchTests).
public enum Fixtures {
    /// The repository's corpora/synthetic-tiny.json (12 words, 40 users, 3 days).
    public static var tinySpec: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("corpora/synthetic-tiny.json").path
    }

    /// A tiny CIFG model for vocabulary `vocab` (+4 specials).
    public static func tinyModel(vocab: Int) -> ModelConfig {
        ModelConfig(
            name: "test-cifg", vocabularySize: vocab + 4, embedding: 8, hidden: 12, projection: 8, cell: .cifg, seed: 3)
    }

    /// A neural run on the tiny synthetic spec.
    public static func neuralConfiguration(rounds: Int = 4, optimizer: String = "fedavg", codec: String = "rot,q8s,z1")
        -> RunConfiguration
    {
        var c = RunConfiguration()
        c.corpus = "synthetic:" + tinySpec
        c.vocabularySize = 12
        c.modelName = "test-cifg"
        c.model = .neural(tinyModel(vocab: 12))
        c.devices = 3000
        c.cohort = 6
        c.rounds = rounds
        c.evalEvery = 2
        c.client.epochs = 1
        c.client.batchSize = 4
        c.client.optimizer = .sgd
        c.client.learningRate = 0.5
        c.serverOptimizer = try! ParsedSetting(parsing: optimizer)
        c.codec = try! ParsedSetting(parsing: codec)
        c.minimumReportFraction = 0.5
        c.seed = 11
        return c
    }

    /// A federated 3-gram run on the tiny synthetic spec.
    public static func ngramConfiguration(rounds: Int = 4) -> RunConfiguration {
        var c = neuralConfiguration(rounds: rounds)
        c.modelName = "kn3"
        c.model = .ngram(order: 3)
        return c
    }

    /// An in-process server over a fresh in-memory store.
    public static func server() throws -> AggregationServer {
        AggregationServer(store: try RunStore.inMemory())
    }
}

extension RunConfiguration {
    /// The message the configuration's validation refuses it with after `change`, or nil
    /// when it passes (for tests that check a refusal names its flag).
    public func validationMessage(after change: (inout RunConfiguration) -> Void) -> String? {
        var c = self
        change(&c)
        do {
            try c.validate()
            return nil
        } catch {
            return error.message
        }
    }
}
