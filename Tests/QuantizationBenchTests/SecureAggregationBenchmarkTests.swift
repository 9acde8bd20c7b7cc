import FederationProtocol
import FederationServer
import FederationTestSupport
import Foundation
import Testing

@testable import Federation
@testable import QuantizationBench

@Suite("Quantization benchmark under secure aggregation")
struct SecureAggregationBenchmarkTests {
    private func plan(_ codecs: String, zlib: [Int] = [0, 1]) throws -> QuantizationBenchmark {
        var base = Fixtures.neuralConfiguration(rounds: 2)
        base.cohort = 8
        base.minimumReportFraction = 0.25
        base.evalEvery = 1
        return try QuantizationBenchmark(
            base: base, codecs: QuantizationBenchmark.codecList(codecs), zlibLevels: zlib, seeds: [11], target: nil,
            secureAggregation: (SecureAggregationSettings(stageDropout: 0.05), 0.5))
    }

    @Test("Each integer codec gets one masked twin on the shared grid; floats get none")
    func planTwins() throws {
        let b = try plan("f32,q8s,rot+clip=0.25+q4n")
        #expect(
            b.experiments.map(\.codec) == [
                "f32", "f32", "q8s", "q8s", "q8s+secagg", "rot+clip=0.25+q4n", "rot+clip=0.25+q4n",
                "rot+clip=0.25+q4n+secagg",
            ])
        let twins = b.experiments.filter(\.secureAggregation)
        #expect(twins.map(\.scheme) == ["clip=0.5,q8s", "clip=0.25,q4n"])
        #expect(b.configuration(for: twins[0], seed: 11).secureAggregation?.stageDropout == 0.05)
        #expect(b.configuration(for: b.experiments[2], seed: 11).secureAggregation == nil)
        #expect(throws: QuantizationBenchmarkError.self) { try plan("f32,f16") }
    }

    @Test("A masked run sits next to its plain one: more bits on the wire, a committed model")
    func run() async throws {
        let b = try plan("q8s", zlib: [1])
        let server = try Fixtures.server()
        let outcome = try await QuantizationBenchmarkRunner(
            benchmark: b, server: server, dataset: try FederatedDataset(configuration: b.base), workers: 1
        ).run()
        #expect(outcome.finished)
        let rows = outcome.summary.rows
        #expect(rows.map(\.experiment.codec) == ["q8s", "q8s+secagg"])
        // Masked coordinates take m = 8 + ⌈log2 K⌉ bits, plus the keys and shares.
        #expect(rows[1].bitsPerParameter > 8 + 1)
        #expect(rows[1].bitsPerParameter > rows[0].bitsPerParameter)
        #expect(rows.allSatisfy { $0.accuracyAt1.mean > 0 })
        #expect(outcome.summary.cohortsIdentical)
    }
}
