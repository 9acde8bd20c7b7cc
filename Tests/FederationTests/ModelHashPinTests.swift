import FederationProtocol
import FederationTestSupport
import Foundation
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

/// Pins the final model of a few short runs to the hashes the code produced before the round
/// pipeline was redesigned (commit 8b80e5c's behaviour). Any change to the order of the sum,
/// to a random stream or to a stage shows up here as a different hash.
@Suite("Model hashes are pinned across refactors")
struct ModelHashPinTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var configuration: RunConfiguration
        /// Stop after this many rounds and resume on a new server over the same file.
        var stopAfter: Int?
        var expectedSHA256: String
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        var f32 = Fixtures.neuralConfiguration(rounds: 4, optimizer: "fedavg", codec: "f32")
        f32.client.dropout = 0.1
        f32.client.messageCap = 8
        f32.federatedEval = true
        var q8 = Fixtures.neuralConfiguration(rounds: 4, optimizer: "fedadam:lr=0.01,halflife=3", codec: "rot,q8s,z1")
        q8.client.dropout = 0.2
        var ngram = Fixtures.ngramConfiguration(rounds: 4)
        ngram.overSelection = 1.5
        return [
            Case(
                name: "neural f32, dropout, message cap", configuration: f32, stopAfter: nil,
                expectedSHA256: "fd48388fc5d060e2c3e0c5c3573ebb56416d97357e92b78f9ee614328a0c25f2"),
            Case(
                name: "neural rot,q8s, FedAdam, resumed", configuration: q8, stopAfter: 2,
                expectedSHA256: "ca61460dc745c18919c3d4c9b8d5a5dad625ce4576d58e87dc6372386c75fe1b"),
            Case(
                name: "n-gram, resumed", configuration: ngram, stopAfter: 1,
                expectedSHA256: "e5fdca7a1085297a46714d21d6fa56da9af8d7a621f8b1316ab24f560cb1c344"),
        ]
    }()

    @Test("The final model hash is unchanged", arguments: cases)
    func pinned(_ pin: Case) async throws {
        let c = pin.configuration
        let dataset = try FederatedDataset(configuration: c)
        let path = NSTemporaryDirectory() + "kbd-sim-pin-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let first = FederatedRunner(
            transport: InProcessTransport(server: AggregationServer(store: try RunStore.open(path: path))),
            dataset: dataset, observer: pin.stopAfter.map { RoundLimit($0) } ?? UnobservedRun())
        var outcome = try await first.run(configuration: c)
        if pin.stopAfter != nil {
            #expect(!outcome.finished)
            let resumed = FederatedRunner(
                transport: InProcessTransport(server: AggregationServer(store: try RunStore.open(path: path))),
                dataset: dataset)
            outcome = try await resumed.run(resume: outcome.attachment.runID)
        }
        #expect(outcome.finished)
        // The pins mean something only if rounds aggregated updates.
        #expect(outcome.rounds.contains { !$0.summary.abandoned && $0.summary.reported > 0 })
        let sha = try #require(outcome.rounds.last?.summary.modelSHA256)
        #expect(sha == pin.expectedSHA256, "\(pin.name): \(sha)")
    }
}
