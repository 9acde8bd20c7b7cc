import Aggregation
import FederationProtocol
import FederationTestSupport
import Foundation
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

@Suite("The norm-histogram stage")
struct NormHistogramStageTests {
    @Test("It bins hand-computed norms by half-decade and reports count, min, max and mean")
    func binsNorms() throws {
        var stage = NormHistogramStage()
        stage.beginRound(1)
        var aggregate = RoundAggregate(round: 1, parameterCount: 2)
        // Norms 5 (3-4-5), 0.05 and 200: bins [3.16, 10), [0.0316, 0.1) and the overflow bin.
        for var values in [[Float(3), 4], [0.03, 0.04], [120, 160]] as [[Float]] {
            try values.withUnsafeMutableBufferPointer { v in
                var update = ClientUpdate(device: 0, message: UnsafeRawBufferPointer(start: nil, count: 0), values: v)
                try stage.process(&update, into: &aggregate)
            }
        }
        var weights: [Float] = [0, 0]
        try stage.finish(&aggregate, weights: &weights)
        let report = try #require(aggregate.reports.first).payload(as: NormHistogramStage.Report.self)
        #expect(report.count == 3)
        #expect(abs(report.min - 0.05) < 1e-6 && report.max == 200 && abs(report.mean - 205.05 / 3) < 1e-6)
        #expect(report.counts.reduce(0, +) == 3)
        let five = try #require(report.edges.firstIndex { 5 < $0 })
        #expect(report.counts[five] == 1 && report.edges[five - 1] <= 5)
        #expect(report.counts.last == 1)  // 200 ≥ 10²
        #expect(weights == [0, 0])
    }

    @Test("A run with the stage in its chain stores one histogram per aggregated round, and the same model")
    func storedWithTheRound() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 3)
        c.aggregationStages = ["decode", "norm-histogram", "weight", "sum", "server-optimizer"]
        let server = try Fixtures.server()
        let outcome = try await FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c)
        ).run(configuration: c)
        let rounds = try server.store.rounds(ofRun: outcome.attachment.runID)
        let reports = try server.store.stageReports(ofRun: outcome.attachment.runID)
        #expect(reports.map(\.round) == rounds.filter { !$0.abandoned }.map(\.number))
        for (record, round) in zip(reports, rounds.filter { !$0.abandoned }) {
            let histogram = try JSONDecoder().decode(NormHistogramStage.Report.self, from: Data(record.json.utf8))
            #expect(record.stage == "norm-histogram" && histogram.count == round.reported && histogram.max > 0)
        }
        // Monitoring changes nothing: the same run without the stage ends at the same model.
        var plain = c
        plain.aggregationStages = nil
        let reference = try await FederatedRunner(
            transport: InProcessTransport(server: try Fixtures.server()),
            dataset: try FederatedDataset(configuration: plain)
        ).run(configuration: plain)
        #expect(outcome.rounds.last!.summary.modelSHA256 == reference.rounds.last!.summary.modelSHA256)
    }
}
