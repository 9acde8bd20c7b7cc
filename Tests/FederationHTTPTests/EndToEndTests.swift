import Federation
import FederationFleet
import FederationHTTP
import FederationProtocol
import FederationServer
import Foundation
import RunStore
import Testing

struct EndToEndTests {
    @Test("A run over HTTP commits the same rounds, model and metrics as the same run in-process")
    func httpRunMatchesInProcessRun() async throws {
        // The plan's dropout and the per-round message sample must cross HTTP too.
        let configuration = {
            var c = tinyRunConfiguration()
            c.client.dropout = 0.2
            c.client.messageCap = 8
            return c
        }()
        let dataset = try FederatedDataset(configuration: configuration)

        let local = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        let inProcess = FederatedRunner(transport: InProcessTransport(server: local), dataset: dataset, workers: 1)
        let expected = try await inProcess.run(configuration: configuration)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "kbd-sim-http-\(UUID().uuidString).sqlite"
        ).path
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let store = try RunStore.open(path: path)
        let remote = AggregationServer(store: store, loadDataset: { _ in dataset })
        let outcome = try await withLiveServer(remote) { url in
            let runner = FederatedRunner(
                transport: try HTTPTransport(baseURL: url.absoluteString, token: testOperatorToken), dataset: dataset,
                workers: 1)
            return try await runner.run(configuration: configuration)
        }

        // Exact equality, not a tolerance: both transports carry the same model and update
        // bytes, the fleet uploads in the same virtual arrival order, and the server
        // aggregates in arrival order, so every round's model hash and every metric match
        // bit for bit. Only the server's wall time differs.
        #expect(outcome.finished && expected.finished)
        #expect(outcome.rounds.count == 3)
        let received = outcome.rounds.map { Self.withoutTiming($0.summary) }
        let reference = expected.rounds.map { Self.withoutTiming($0.summary) }
        #expect(received == reference)
        #expect(Set(received.map(\.modelSHA256)).count == 3, "every round moves the model")
        let last = try #require(outcome.rounds.last?.summary)
        #expect(last.modelSHA256 == expected.rounds.last?.summary.modelSHA256)
        #expect(last.evaluation != nil && last.evaluation == expected.rounds.last?.summary.evaluation)
        #expect(last.federatedEvaluation != nil)
        #expect(outcome.rounds.allSatisfy { !$0.summary.abandoned && $0.summary.reported == configuration.cohort })

        // The server committed every round to its file store and marked the run finished.
        let run = outcome.attachment.runID
        #expect(try store.rounds(ofRun: run).map(\.modelSHA256) == received.map(\.modelSHA256))
        #expect(try store.requireRun(id: run).status == .finished)
    }

    private static func withoutTiming(_ summary: RoundSummary) -> RoundSummary {
        var summary = summary
        summary.serverSeconds = 0
        summary.evaluationSeconds = 0
        return summary
    }
}
