import Foundation
@testable import Federation
@testable import LanguageModels
import KeyboardCorpus
import Fleet
import RunStore
import Testing

@Suite("Federated runs, in-process")
struct FederatedRunTests {
    private func run(_ c: RunConfiguration, server: AggregationServer, limit: Int? = nil, resume: Int64? = nil) async throws -> FederatedRunner.Outcome {
        let runner = FederatedRunner(transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c))
        runner.roundLimit = limit
        return try await runner.run(configuration: resume == nil ? c : nil, resume: resume)
    }

    @Test("A neural run commits every round, evaluates on schedule and improves on the initial model")
    func neuralRun() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 6)
        c.serverOptimizer = "fedavg"
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        #expect(outcome.finished)
        let id = outcome.attachment.runID
        let rounds = try server.store.rounds(ofRun: id)
        #expect(rounds.map(\.number) == Array(1...6))
        #expect(rounds.allSatisfy { $0.bytesUp > 0 || $0.abandoned })
        let evaluations = try server.store.evaluations(ofRun: id)
        #expect(evaluations.map(\.round) == [2, 4, 6])
        #expect(try server.store.getRun(id: id)?.status == .finished)
        // The tiny spec is learnable: the model must beat its Zipf-prior start.
        let dataset = try FederatedDataset(configuration: c)
        let initial = try GlobalModel.initial(c, vocabulary: dataset.vocabulary).evaluate(on: dataset.evalMessages, vocabulary: dataset.vocabulary)
        #expect(evaluations.last!.ppl! < initial.perplexity)
        // Participation counts add up to the reports.
        let participation = try server.store.participation(ofRun: id)
        #expect(participation.values.reduce(0, +) == rounds.filter { !$0.abandoned }.reduce(0) { $0 + $1.reported })
    }

    @Test("The same seed gives the same model twice; another seed does not")
    func reproducible() async throws {
        let c = Fixtures.neuralConfiguration(rounds: 3)
        let a = try await run(c, server: try Fixtures.server())
        let b = try await run(c, server: try Fixtures.server())
        #expect(a.rounds.last!.summary.modelSHA256 == b.rounds.last!.summary.modelSHA256)
        #expect(a.rounds.last!.summary.evaluation == b.rounds.last!.summary.evaluation)
        var other = c
        other.seed = 12
        let d = try await run(other, server: try Fixtures.server())
        #expect(d.rounds.last!.summary.modelSHA256 != a.rounds.last!.summary.modelSHA256)
    }

    @Test("Training the cohort on 1 or 2 workers gives the same model")
    func workerCountIndependent() async throws {
        let c = Fixtures.neuralConfiguration(rounds: 2)
        var models: [String] = []
        for workers in [1, 2] {
            let runner = FederatedRunner(transport: InProcessTransport(server: try Fixtures.server()), dataset: try FederatedDataset(configuration: c))
            runner.workers = workers
            models.append(try await runner.run(configuration: c).rounds.last!.summary.modelSHA256)
        }
        #expect(models[0] == models[1])
    }

    @Test("A run stopped after round 2 and resumed on a new server reaches the same model as an uninterrupted run", arguments: ["neural", "ngram"])
    func resumeMatchesUninterrupted(kind: String) async throws {
        var c = kind == "neural" ? Fixtures.neuralConfiguration(rounds: 5) : Fixtures.ngramConfiguration(rounds: 5)
        c.serverOptimizer = "fedadam:lr=0.01"  // stateful: the moments must survive the restart too
        let wholeServer = try Fixtures.server()
        let whole = try await run(c, server: wholeServer)

        let path = NSTemporaryDirectory() + "kbd-sim-resume-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let first = try await run(c, server: AggregationServer(store: try RunStore.open(path: path)), limit: 2)
        #expect(!first.finished)
        let id = first.attachment.runID
        // A new process: a new server over the same file.
        let store = try RunStore.open(path: path)
        #expect(try store.lastCommittedRound(ofRun: id) == 2)
        let resumed = try await run(c, server: AggregationServer(store: store), resume: id)
        #expect(resumed.finished)
        #expect(resumed.rounds.map(\.round) == [3, 4, 5])
        #expect(try store.rounds(ofRun: id).map(\.number) == [1, 2, 3, 4, 5])
        #expect(resumed.rounds.last!.summary.modelSHA256 == whole.rounds.last!.summary.modelSHA256)
        #expect(resumed.rounds.last!.summary.evaluation == whole.rounds.last!.summary.evaluation)
        // Every round stores its reporting devices by local hour, summing to its reports, and
        // the resumed rounds record the same hours as the uninterrupted ones.
        let stored = try store.rounds(ofRun: id)
        for round in stored {
            let hours = try #require(round.reportingLocalHours)
            #expect(hours.count == 24 && hours.reduce(0, +) == round.reported)
        }
        #expect(try wholeServer.store.rounds(ofRun: whole.attachment.runID).map(\.reportingLocalHours) == stored.map(\.reportingLocalHours))
        // Only the newest checkpoint is kept.
        #expect(try store.latestCheckpoint(ofRun: id)?.round == 5)
    }

    @Test("A finished run cannot be resumed; an unknown run id names the runs that exist")
    func resumeRefusals() async throws {
        let server = try Fixtures.server()
        let done = try await run(Fixtures.ngramConfiguration(rounds: 1), server: server)
        await #expect(throws: FederationError.self) { try server.resumeRun(id: done.attachment.runID) }
        #expect(throws: RunStoreError.self) { try server.resumeRun(id: 99) }
    }

    @Test("Federated n-gram counts equal the counts of the participants' text")
    func ngramCountsAreExact() async throws {
        let c = Fixtures.ngramConfiguration(rounds: 3)
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        let dataset = try FederatedDataset(configuration: c)
        let population = try FederatedRunner.population(for: c)
        // Every participant contributed its text of the days before each round's start, once.
        var expected = NGramCounts(order: 3)
        var through: [Int: Int] = [:]
        for p in outcome.rounds {
            for d in p.outcome.reported {
                let device = Int(d)
                let messages = dataset.trainingMessages(of: device, at: p.outcome.startTime, population: population, sinceDay: through[device])
                expected.merge(NGramCounts(order: 3, messages: messages))
                through[device] = dataset.currentDay(of: device, at: p.outcome.startTime, population: population)
            }
        }
        let global = GlobalModel.ngram(.init(order: 3, counts: expected, contributedThroughDay: [:]))
        #expect(global.sha256(vocabularyCount: dataset.vocabulary.count) == outcome.rounds.last!.summary.modelSHA256)
    }
}
