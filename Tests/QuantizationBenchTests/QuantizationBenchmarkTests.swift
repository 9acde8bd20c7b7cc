import FederatedCore
import Federation
import FederationFleet
import FederationProtocol
import FederationServer
import FederationTestSupport
import Fleet
import Foundation
import LanguageModelTypes
import LanguageModels
import RunStore
import Testing

@testable import QuantizationBench

@Suite("Quantization benchmark")
struct QuantizationBenchmarkTests {
    private func plan(
        _ codecs: String, zlib: [Int] = [1], seeds: [UInt64] = [11], rounds: Int = 3, target: Double? = nil
    ) throws -> QuantizationBenchmark {
        var base = Fixtures.neuralConfiguration(rounds: rounds)
        base.evalEvery = 1
        return try QuantizationBenchmark(
            base: base, codecs: QuantizationBenchmark.codecList(codecs), zlibLevels: zlib, seeds: seeds, target: target)
    }

    private func runBenchmark(_ benchmark: QuantizationBenchmark) async throws -> QuantizationBenchmarkRunner.Outcome {
        let server = try Fixtures.server()
        let runner = QuantizationBenchmarkRunner(
            benchmark: benchmark, server: server, dataset: try FederatedDataset(configuration: benchmark.base),
            workers: 1)
        return try await runner.run()
    }

    /// Every round's cohort as the fleet decided it: who was selected, who reported (in
    /// aggregation order), who dropped out or straggled, and the virtual times.
    private struct Cohort: Equatable {
        var start, close, end: Int
        var selected, reported, dropped, stragglers, surplus: [UInt32]
    }

    private func cohorts(_ c: RunConfiguration, store: RunStore? = nil) async throws -> (
        cohorts: [Cohort], participation: [UInt64: Int]
    ) {
        let server = AggregationServer(store: try store ?? RunStore.inMemory())
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c), workers: 1)
        let outcome = try await runner.run(configuration: c)
        let cohorts = outcome.rounds.map { p in
            let o = p.outcome
            return Cohort(
                start: o.startTime, close: o.closeTime, end: o.endTime, selected: o.selected, reported: o.reported,
                dropped: o.dropped,
                stragglers: o.stragglers, surplus: o.surplus)
        }
        return (cohorts, try server.store.participation(ofRun: outcome.attachment.runID))
    }

    @Test("Two codecs with the same seed select, keep and drop exactly the same devices in every round")
    func identicalCohorts() async throws {
        let benchmark = try plan("f32,rot+q1s", zlib: [0], rounds: 6)
        var runs: [(cohorts: [Cohort], participation: [UInt64: Int])] = []
        for experiment in benchmark.experiments {
            let c = benchmark.configuration(for: experiment, seed: 11)
            #expect(c.uploadTiming == .float32Size)
            runs.append(try await cohorts(c))
        }
        #expect(runs[0].cohorts.count == 6)
        #expect(runs[0].cohorts.allSatisfy { !$0.selected.isEmpty && !$0.reported.isEmpty })
        #expect(runs[0].cohorts == runs[1].cohorts)
        #expect(runs[0].participation == runs[1].participation)
        #expect(!runs[0].participation.isEmpty)
        // A different seed selects differently (the check above is not vacuous).
        let other = try await cohorts(benchmark.configuration(for: benchmark.experiments[0], seed: 12))
        #expect(other.cohorts.map(\.selected) != runs[0].cohorts.map(\.selected))
    }

    @Test("With kbd-sim run's default timing the codec changes the cohorts; with float32 timing it does not")
    func timingOptionMatters() async throws {
        // A model big enough (~80k parameters, 320 kB in float32) that its upload takes
        // seconds on a slow uplink: with the codec's own size, f32 and rot+q1s reports
        // arrive at different virtual times.
        var c = Fixtures.neuralConfiguration(rounds: 3)
        c.model = .neural(
            ModelConfig(
                name: "test-cifg-wide", vocabularySize: 16, embedding: 32, hidden: 112, projection: 32, cell: .cifg,
                seed: 3))
        func run(_ codec: String, _ timing: RunConfiguration.UploadTiming?) async throws -> [Cohort] {
            var x = c
            x.codec = try ParsedSetting(parsing: codec)
            x.uploadTiming = timing
            return try await cohorts(x).cohorts
        }
        #expect(try await run("f32", nil) != run("rot,q1s", nil))
        #expect(try await run("f32", .float32Size) == run("rot,q1s", .float32Size))
    }

    @Test("kbd-sim run's default timing still follows the codec's size; float32 timing equals codec timing for f32")
    func timingOptionIsOptIn() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 3)
        c.codec = "f32"
        #expect(c.uploadTiming == nil && c.effectiveUploadTiming == .codecSize)
        var fixed = c
        fixed.uploadTiming = .float32Size
        // For float32 the two bases agree, so the option changes nothing for f32.
        let a = try await cohorts(c)
        let b = try await cohorts(fixed)
        #expect(a.cohorts == b.cohorts)
    }

    @Test("A configuration stored before uploadTiming existed decodes, and the default encodes without it")
    func configurationCompatibility() throws {
        let c = Fixtures.neuralConfiguration()
        let json = c.encodedJSON()
        #expect(!json.contains("uploadTiming"))
        #expect(
            !json.contains("maxDeviceMessages") && !json.contains("clientDropout") && !json.contains("homeWiFiFraction")
        )
        #expect(try RunConfiguration.decode(json: json) == c)
        var fixed = c
        fixed.uploadTiming = .float32Size
        #expect(fixed.encodedJSON().contains("\"uploadTiming\" : \"float32Size\""))
        #expect(try RunConfiguration.decode(json: fixed.encodedJSON()) == fixed)
    }

    @Test("The same codec twice with the same seed reproduces every number and model hash")
    func reproducible() async throws {
        let benchmark = try plan("f32,q8s", zlib: [0, 1], seeds: [11, 12])
        let a = try await runBenchmark(benchmark)
        let b = try await runBenchmark(benchmark)
        #expect(a.finished && b.finished)
        #expect(a.summary.rows.count == 4)
        #expect(a.summary == b.summary)
        #expect(
            a.measurements.map { $0.rounds.map(\.modelSHA256) } == b.measurements.map { $0.rounds.map(\.modelSHA256) })
        #expect(a.summary.cohortsIdentical)
        // f32 is lossless: its model is the same at zlib 0 and 1.
        #expect(a.summary.rows[0].finalModelSHA256 == a.summary.rows[1].finalModelSHA256)
        // Quantization changes the model.
        #expect(a.summary.rows[0].finalModelSHA256 != a.summary.rows[2].finalModelSHA256)
    }

    @Test(
        "Bits per parameter: f32 at zlib 0 is 32 plus the framing, q8s is under 8 plus scales and framing; ratios follow"
    )
    func bitsPerParameter() async throws {
        let benchmark = try plan("f32,q8s,rot+q2s", zlib: [0])
        let outcome = try await runBenchmark(benchmark)
        let s = outcome.summary
        let runner = QuantizationBenchmarkRunner(
            benchmark: benchmark, server: try Fixtures.server(),
            dataset: try FederatedDataset(configuration: benchmark.base))
        let (parameters, float32Bytes) = try runner.modelSizes()
        #expect(s.parameterCount == parameters)
        let framingBits = Double(float32Bytes - 4 * parameters) * 8 / Double(parameters)
        let f32 = try #require(s.rows.first { $0.experiment.codec == "f32" })
        let q8 = try #require(s.rows.first { $0.experiment.codec == "q8s" })
        let q2 = try #require(s.rows.first { $0.experiment.codec == "rot+q2s" })
        #expect(abs(f32.bitsPerParameter - (32 + framingBits)) < 1e-9)
        #expect(f32.uploadBytesPerDeviceRound == Double(float32Bytes))
        #expect(s.float32Basis == .measured && s.float32UploadBytes == Double(float32Bytes))
        #expect(f32.ratioToFloat32 == 1)
        // 8 bits per value, a 64-bit scale pair per 1024-value chunk, and the same header.
        let q8Bound = 8 + 64.0 * Double((parameters + 1023) / 1024) / Double(parameters) + framingBits + 0.5
        #expect(q8.bitsPerParameter > 8 && q8.bitsPerParameter < q8Bound, "\(q8.bitsPerParameter) vs \(q8Bound)")
        #expect(q2.bitsPerParameter < q8.bitsPerParameter)
        #expect(abs(q8.ratioToFloat32 - Double(float32Bytes) / q8.uploadBytesPerDeviceRound) < 1e-12)
    }

    @Test("Without f32 at zlib 0 the float32 size is computed, and the target comes from the best codec")
    func computedReference() async throws {
        let benchmark = try plan("q8s,rot+q2s", zlib: [1])
        let outcome = try await runBenchmark(benchmark)
        let s = outcome.summary
        #expect(s.float32Basis == .computed)
        let runner = QuantizationBenchmarkRunner(
            benchmark: benchmark, server: try Fixtures.server(),
            dataset: try FederatedDataset(configuration: benchmark.base))
        #expect(s.float32UploadBytes == Double(try runner.modelSizes().float32UpdateBytes))
        let best = s.rows.map(\.accuracyAt1.mean).max()!
        #expect(abs(s.target - 0.95 * best) < 1e-12)
        #expect(s.targetBasis.contains("best codec"))
    }

    @Test(
        "Rounds and MB to target: the first evaluated round at or above it, mean over seeds, nil unless every seed reached it"
    )
    func roundsToTarget() throws {
        let benchmark = try plan("f32,q8s", zlib: [0], seeds: [1, 2], target: 0.5)
        func run(_ e: Int, seed: UInt64, id: Int64, acc: [Double?]) -> QuantizationBenchmark.RunMeasurement {
            let rounds = acc.enumerated().map { i, a in
                QuantizationBenchmark.RunMeasurement.Round(
                    number: i + 1, reported: 2, bytesUp: 1_000_000, accuracyAt1: a, accuracyAt3: a.map { $0 + 0.1 },
                    modelSHA256: "m\(i)", cohortKey: [Int64(i)])
            }
            return .init(
                experiment: benchmark.experiments[e], seed: seed, runID: id, plannedRounds: 3, rounds: rounds,
                participation: [1: 3])
        }
        let measurements = [
            run(0, seed: 1, id: 1, acc: [0.3, 0.5, 0.6]), run(1, seed: 1, id: 2, acc: [0.2, 0.4, 0.45]),
            run(0, seed: 2, id: 3, acc: [0.1, 0.3, 0.7]), run(1, seed: 2, id: 4, acc: [0.55, 0.5, 0.6]),
        ]
        let s = benchmark.summarize(measurements, parameterCount: 250_000, float32UpdateBytes: 1_000_100)
        #expect(s.target == 0.5 && s.targetBasis == "given (--target)")
        let f32 = s.rows[0]
        #expect(f32.runIDs == [1, 3] && f32.seeds == [1, 2])
        #expect(f32.roundsToTarget == 2.5)  // rounds 2 and 3
        #expect(f32.megabytesToTarget == 2.5)  // 2 MB and 3 MB uploaded through them
        #expect(f32.seedsReachingTarget == 2)
        #expect(abs(f32.accuracyAt1.mean - 0.65) < 1e-12 && abs(f32.accuracyAt1.halfRange - 0.05) < 1e-12)
        #expect(f32.bitsPerParameter == 1_000_000.0 * 8 / (2 * 250_000))
        let q8 = s.rows[1]
        #expect(q8.seedsReachingTarget == 1 && q8.roundsToTarget == nil && q8.megabytesToTarget == nil)
        // An incomplete run is left out of the table.
        var partial = measurements
        partial[3].rounds.removeLast()
        #expect(
            benchmark.summarize(partial, parameterCount: 250_000, float32UpdateBytes: 1_000_100).rows[1].seeds == [1])
        // The default target: 95% of f32's final mean acc@1.
        let byDefault = try plan("f32,q8s", zlib: [0], seeds: [1, 2]).summarize(
            measurements, parameterCount: 250_000, float32UpdateBytes: 1_000_100)
        #expect(abs(byDefault.target - 0.95 * 0.65) < 1e-12)
    }

    @Test("Codec entries map to run schemes: stages joined by '+', the zlib level from the level list")
    func schemes() throws {
        let benchmark = try plan(" F32 ,rot+q2s,clip=1+q8n", zlib: [0, 1, 9])
        #expect(
            benchmark.experiments.map(\.scheme) == [
                "f32", "f32,z1", "f32,z9", "rot,q2s", "rot,q2s,z1", "rot,q2s,z9", "clip=1.0,q8n", "clip=1.0,q8n,z1",
                "clip=1.0,q8n,z9",
            ])
        #expect(benchmark.experiments.map(\.codec).prefix(4) == ["f32", "f32", "f32", "rot+q2s"])
        #expect(benchmark.experiments.map(\.isFloat32) == [true, true, true, false, false, false, false, false, false])
        let seedMajor = try plan("f32,q8s", zlib: [1], seeds: [3, 4]).plannedRuns.map {
            "\($0.experiment.codec)@\($0.seed)"
        }
        #expect(seedMajor == ["f32@3", "q8s@3", "f32@4", "q8s@4"])
    }

    @Test(
        "A bad plan is refused with a typed error naming the entry",
        arguments: [
            ("f32,q9s,q8s", [1], [UInt64(1)], nil, QuantizationBenchmarkError.Code.unknownCodec, "q9s"),
            ("f32,bogus", [1], [1], nil, .unknownCodec, "bogus"),
            ("f32,,q8s", [1], [1], nil, .unknownCodec, ""),
            ("", [1], [1], nil, .emptyCodecList, nil),
            ("q8s+z6", [1], [1], nil, .zlibInCodec, "q8s+z6"),
            ("q8s,Q8S", [1], [1], nil, .duplicate, "Q8S"),
            ("q8s", [1, 1], [1], nil, .duplicate, "1"),
            ("q8s", [10], [1], nil, .invalidZlibLevel, "10"),
            ("q8s", [], [1], nil, .invalidZlibLevel, nil),
            ("q8s", [1], [], nil, .invalidSeeds, nil),
            ("q8s", [1], [2, 2], nil, .duplicate, "2"),
            ("q8s", [1], [1], 0.0, .invalidTarget, "0.0"),
            ("q8s", [1], [1], 1.5, .invalidTarget, "1.5"),
        ] as [(String, [Int], [UInt64], Double?, QuantizationBenchmarkError.Code, String?)])
    func badPlans(
        codecs: String, zlib: [Int], seeds: [UInt64], target: Double?, code: QuantizationBenchmarkError.Code,
        entry: String?
    ) throws {
        let error = #expect(throws: QuantizationBenchmarkError.self) {
            try QuantizationBenchmark(
                base: Fixtures.neuralConfiguration(), codecs: QuantizationBenchmark.codecList(codecs), zlibLevels: zlib,
                seeds: seeds, target: target)
        }
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.entry == entry)
        if code == .unknownCodec { #expect(error?.message.contains("rot+q2s") == true) }  // lists what is valid
    }

    @Test("An n-gram model or a bad run setting is refused before anything runs")
    func badBase() throws {
        #expect(
            throws: QuantizationBenchmarkError(
                .unsupportedModel,
                "--model kn3: n-gram runs upload count tables, which no codec quantizes; use a neural model (cifg-small, lstm-tiny, a config file)",
                entry: "kn3")
        ) {
            try QuantizationBenchmark(
                base: Fixtures.ngramConfiguration(), codecs: ["q8s"], zlibLevels: [1], seeds: [1], target: nil)
        }
        var base = Fixtures.neuralConfiguration()
        base.rounds = 0
        let error = #expect(throws: QuantizationBenchmarkError.self) {
            try QuantizationBenchmark(base: base, codecs: ["q8s"], zlibLevels: [1], seeds: [1], target: nil)
        }
        #expect(error?.code == .invalidConfiguration && error?.message.contains("--rounds") == true)
    }
}
