import ArgumentParser
import FederatedCore
import Federation
import FederationFleet
import FederationProtocol
import FederationServer
internal import Foundation
import KernelPaths
import KeyboardCorpus
import LanguageModelTypes
import QuantizationBench
import RunStore

/// `kbd-sim bench`: experiments made of several federated runs.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks made of many federated runs on identical cohorts.",
        subcommands: [
            BenchQuantCommand.self, BenchPrivacyCommand.self, BenchRobustCommand.self, BenchSecAggCommand.self,
        ]
    )
}

/// `kbd-sim bench quant`: one federated run per codec, zlib level and seed, on identical
/// cohorts; a table of upload cost against accuracy.
struct BenchQuantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quant",
        abstract:
            "Train the same federated model once per update codec (and seed) and compare upload cost and accuracy.",
        discussion: """
            Each (codec, zlib level) pair in --codecs × --zlib is one experiment; each runs once \
            per seed, as a normal federated run committed to the SQLite store (--db), so \
            `kbd-sim runs list/show` read every run. For one seed, every codec sees exactly the \
            same cohorts, device availability, dropouts and virtual times: the fleet's timing \
            assumes the float32 upload size whatever the codec (the bytes on the wire are the \
            codec's own), and device training and codec seeds depend only on (seed, round, \
            device). The table says whether the stored rounds confirm it.

            Columns (the --json keys are the same): bits/param = wire bytes × 8 / parameters, \
            over every upload (header, scales and zlib included); up bytes/device/round = the \
            mean upload; ratio to f32 = the float32 upload (f32 at zlib 0 if listed, else its \
            exact computed size) ÷ this one; acc@1, acc@3 = final round, mean ± half-range \
            ((max − min) / 2) over seeds; rounds/MB to target = the first evaluated round with \
            acc@1 ≥ the target and the update MB uploaded through it, mean over seeds, '—' \
            unless every seed reached it (reached = how many did). The target is --target, or \
            95% of float32's final mean acc@1 (of the best codec's if f32 is not listed).

            Codecs: \(QuantizationBenchmark.codecGrammar).

            Progress goes to stderr, one line per round. Ctrl-C stops after the current round's \
            commit, prints the table of the runs completed so far and the id of the stopped run \
            (resumable with kbd-sim run --resume ID).

            Examples:
              kbd-sim bench quant --model cifg-small --rounds 100 --codecs f32,f16,q8s,q4s,rot+q2s,rot+q1s --zlib 0,1,6,9 --seeds 3
              kbd-sim bench quant --corpus synthetic:corpora/synthetic-tiny.json --vocab 12 --model lstm-tiny --devices 3000 --cohort 8 --rounds 3 --eval-every 1 --codecs f32,q8s,rot+q2s --seeds 2 --json
              kbd-sim bench quant --model cifg-small --cohort 20 --rounds 20 --codecs f32,clip=0.5+q8s,clip=0.5+q4s --zlib 0 --seeds 1 --secure-aggregation
            """
    )

    @OptionGroup var options: FederatedRunOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Codecs to compare, comma-separated; stages of one codec joined by '+' (e.g. f32,q8s,rot+q2s).",
            valueName: "list"))
    var codecs: String = "f32,f16,q8s,q4s,rot+q2s,rot+q1s"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "zlib levels crossed with every codec, comma-separated, 0…9 (0: no zlib; 1: kbd-sim run's default).",
            valueName: "levels"))
    var zlib: String = "1"

    @Option(name: .long, help: "Run every experiment with seeds 1…N (default: 3).")
    var seeds: Int?

    @Option(
        name: .long,
        help: ArgumentHelp("Explicit seeds instead of 1…N, comma-separated (e.g. 7,11,13).", valueName: "seeds"))
    var seedList: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Target acc@1 in (0, 1] for rounds/MB to target (default: 95% of float32's final mean acc@1).",
            valueName: "acc"))
    var target: Double?

    @Option(
        name: .long,
        help:
            "Evaluate on the evaluation users every N rounds (default: rounds / 10, at least 1); the last round is always evaluated."
    )
    var evalEvery: Int?

    @Flag(
        name: .long,
        help: ArgumentHelp(
            "Also run each integer codec under SecAgg+ (in process), next to its plain runs: the row '<codec>+secagg' has its bits on the shared grid [-C, C], masked at m bits per coordinate (no rotation, no zlib), plus the key and share messages."
        ))
    var secureAggregation = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --secure-aggregation: C, the L2 clip and grid range of a codec entry without clip= (default 0.5).",
            valueName: "C"))
    var secaggClip: Float?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --secure-aggregation: the chance a phone drops out in each gap between two protocol stages (default 0.05).",
            valueName: "p"))
    var secaggDropout: Double?

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    func validate() throws {
        if !secureAggregation, secaggClip != nil || secaggDropout != nil {
            throw ValidationError("--secagg-clip and --secagg-dropout need --secure-aggregation")
        }
        if let secaggClip, !(secaggClip.isFinite && secaggClip > 0) {
            throw ValidationError(
                "--secagg-clip must be finite and > 0 (got \(secaggClip)): the shared grid is [-C, C]")
        }
        _ = try plan(devices: nil)
    }

    /// The seeds: --seed-list, or 1…--seeds.
    func seedValues() throws -> [UInt64] {
        if let seedList {
            if seeds != nil { throw ValidationError("pass --seeds N or --seed-list, not both") }
            var values: [UInt64] = []
            for entry in seedList.split(separator: ",", omittingEmptySubsequences: false) {
                let text = entry.trimmingCharacters(in: .whitespaces)
                guard let seed = UInt64(text) else {
                    throw ValidationError(
                        "--seed-list entry '\(text)' is not a seed (a whole number ≥ 0), e.g. --seed-list 7,11,13")
                }
                values.append(seed)
            }
            return values
        }
        let count = seeds ?? 3
        guard (1...1000).contains(count) else {
            throw ValidationError("--seeds must be in 1…1000 (got \(count)): the number of seeds each codec runs with")
        }
        return (1...UInt64(count)).map { $0 }
    }

    /// The benchmark plan from the flags; every codec, level, seed and run setting is checked.
    ///
    /// - Parameter devices: the fleet size fitted to the corpus, if known.
    func plan(devices: Int?) throws -> QuantizationBenchmark {
        var levels: [Int] = []
        for entry in zlib.split(separator: ",", omittingEmptySubsequences: false) {
            let text = entry.trimmingCharacters(in: .whitespaces)
            guard let level = Int(text) else {
                throw ValidationError(
                    "--zlib entry '\(text)' is not a level; give levels 0…9 separated by commas, e.g. --zlib 0,1,6,9")
            }
            levels.append(level)
        }
        if let evalEvery, evalEvery < 1 {
            throw ValidationError(
                "--eval-every must be at least 1 (got \(evalEvery)): rounds to target need evaluations during the run")
        }
        let seedValues = try seedValues()
        var base = try options.runConfiguration(
            codec: "f32", evalEvery: evalEvery ?? max(1, options.rounds / 10), seed: seedValues.first ?? 1)
        if let devices { base.devices = devices }
        do {
            return try QuantizationBenchmark(
                base: base, codecs: QuantizationBenchmark.codecList(codecs), zlibLevels: levels, seeds: seedValues,
                target: target,
                secureAggregation: secureAggregation
                    ? (SecureAggregationSettings(stageDropout: secaggDropout ?? 0.05), secaggClip ?? 0.5) : nil)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let (outcome, benchmark) = try await Self.runOnIdenticalCohorts(options: options, json: json) {
            try plan(devices: $0)
        }
        report(outcome, benchmark: benchmark)
    }

    /// What `bench quant` and `bench privacy` share: load the corpus once, size the fleet to
    /// it, plan the benchmark for that fleet, and only then open the store and run every
    /// planned run (Ctrl-C stops after the current round's commit), progress on stderr.
    static func runOnIdenticalCohorts(
        options: FederatedRunOptions, json: Bool, plan: (_ devices: Int?) throws -> QuantizationBenchmark
    ) async throws -> (QuantizationBenchmarkRunner.Outcome, QuantizationBenchmark) {
        status("kernel path: " + KernelPath.report().summaryLine)
        let draft = try plan(nil)
        let t0 = now()
        let dataset = try FederatedDataset(configuration: draft.base, loader: CorpusLoader(usesCache: !options.noCache))
        var fitted = draft.base
        try options.fitFleet(&fitted, to: dataset)
        let benchmark = try plan(fitted.devices)
        let total = benchmark.plannedRuns.count
        if !json {
            status(
                "corpus ready in \(fixed(now() - t0, digits: 1)) s: \(grouped(dataset.evalMessages.count)) evaluation messages, V = \(grouped(dataset.vocabulary.count - 4)); \(benchmark.experiments.count) experiments × \(benchmark.seeds.count) seeds = \(total) runs into \(options.db)"
            )
        }

        // Only now, with every input checked and the corpus loaded, is the store opened.
        let store = try RunStore.open(path: options.db)
        let server = AggregationServer(store: store, loadDataset: { _ in dataset })
        let runner = QuantizationBenchmarkRunner(
            benchmark: benchmark, server: server, dataset: dataset, workers: options.workers,
            observer: BenchmarkProgress(progress: json ? nil : ProgressLine(plainInterval: 0)))
        let interrupts = InterruptHandler { runner.requestStop() }
        defer { interrupts.cancel() }
        return (try await runner.run(), benchmark)
    }

    private func report(_ outcome: QuantizationBenchmarkRunner.Outcome, benchmark: QuantizationBenchmark) {
        let s = outcome.summary
        let stopped = outcome.measurements.filter { !$0.isComplete }
        if json {
            printJSON(Self.document(outcome, benchmark: benchmark))
            return
        }
        var table = SummaryTable(columns: Self.columns)
        for row in s.rows {
            table.append([
                row.experiment.codec, String(row.experiment.zlibLevel), fixed(row.bitsPerParameter, digits: 3),
                grouped(Int(row.uploadBytesPerDeviceRound.rounded())), fixed(row.ratioToFloat32, digits: 2),
                "\(fixed(row.accuracyAt1.mean)) ± \(fixed(row.accuracyAt1.halfRange))",
                "\(fixed(row.accuracyAt3.mean)) ± \(fixed(row.accuracyAt3.halfRange))",
                row.roundsToTarget.map { fixed($0, digits: 1) } ?? "—",
                row.megabytesToTarget.map { fixed($0, digits: 3) } ?? "—",
                "\(row.seedsReachingTarget)/\(row.seeds.count)", row.runIDs.map(String.init).joined(separator: ","),
            ])
        }
        if table.rows.isEmpty {
            print("no run completed; nothing to compare")
        } else {
            print(table.render())
            let f32 =
                s.float32Basis == .measured
                ? "measured (f32 at zlib 0)"
                : "computed: header + 4 bytes × \(grouped(s.parameterCount)) parameters + CRC (f32 at zlib 0 not listed)"
            print(
                """

                \(benchmark.base.modelLabel) (\(grouped(s.parameterCount)) parameters) on \(benchmark.base.corpus), \(benchmark.base.rounds) rounds, cohort \(benchmark.base.cohort), seeds \(benchmark.seeds.map(String.init).joined(separator: ","))
                acc@1, acc@3: after the last round, mean ± half-range ((max − min) / 2) over seeds
                target acc@1 \(fixed(s.target)): \(s.targetBasis); rounds/MB to target: mean over seeds, — unless every seed reached it
                ratio to f32: a float32 update is \(grouped(Int(s.float32UploadBytes.rounded()))) bytes, \(f32)
                identical cohorts for every codec of a seed (from the store): \(s.cohortsIdentical ? "yes" : "NO — see kbd-sim runs show")
                """)
            if let start = outcome.startEvaluation {
                print(
                    "every run starts from the same untrained model: acc@1 \(fixed(start.accuracyAt1)), acc@3 \(fixed(start.accuracyAt3)) before round 1"
                )
                let gains = s.rows.map { row in
                    "\(row.experiment.codec) \(fixed(row.accuracyAt1.mean)) (\(signed(row.accuracyAt1.mean - start.accuracyAt1)))"
                }
                print(
                    "acc@1 from \(fixed(start.accuracyAt1)) before round 1 to, after round \(benchmark.base.rounds): \(gains.joined(separator: ", "))"
                )
            }
        }
        for run in stopped {
            print(
                "\nstopped: run \(run.runID) (codec \(run.experiment.codec), zlib \(run.experiment.zlibLevel), seed \(run.seed)) at round \(run.rounds.count)/\(run.plannedRounds); resume it with kbd-sim run --resume \(run.runID) --db \(options.db)"
            )
        }
        if !outcome.finished {
            print(
                "\(outcome.measurements.filter(\.isComplete).count) of \(benchmark.plannedRuns.count) runs complete; the table covers those"
            )
        }
    }

    /// `+0.0287` / `-0.0012`: a change in accuracy.
    private func signed(_ x: Double) -> String { (x >= 0 ? "+" : "−") + fixed(abs(x)) }

    /// The table's columns; the --json row keys are the same (plus the per-seed details).
    static let columns = [
        "codec", "zlib", "bits/param", "up bytes/device/round", "ratio to f32", "acc@1", "acc@3", "rounds to target",
        "MB to target", "reached", "runs",
    ]

    static func document(_ outcome: QuantizationBenchmarkRunner.Outcome, benchmark: QuantizationBenchmark) -> [String:
        Any]
    {
        let s = outcome.summary
        let rows: [[String: Any]] = s.rows.map { row in
            [
                "codec": row.experiment.codec, "zlib": row.experiment.zlibLevel, "scheme": row.experiment.scheme,
                "secure aggregation": row.experiment.secureAggregation,
                "bits/param": row.bitsPerParameter, "up bytes/device/round": row.uploadBytesPerDeviceRound,
                "ratio to f32": row.ratioToFloat32,
                "acc@1": row.accuracyAt1.mean, "acc@1 ±": row.accuracyAt1.halfRange,
                "acc@1 by seed": row.accuracyAt1.values,
                "acc@3": row.accuracyAt3.mean, "acc@3 ±": row.accuracyAt3.halfRange,
                "acc@3 by seed": row.accuracyAt3.values,
                "rounds to target": row.roundsToTarget.map { $0 as Any } ?? NSNull(),
                "MB to target": row.megabytesToTarget.map { $0 as Any } ?? NSNull(),
                "reached": row.seedsReachingTarget, "seeds": row.seeds.map { Int64(bitPattern: $0) },
                "runs": row.runIDs,
                "model sha256": row.finalModelSHA256,
            ]
        }
        var document: [String: Any] = [
            "rows": rows, "finished": outcome.finished, "spread": "half-range",
            "target acc@1": s.target, "target basis": s.targetBasis,
            "f32 bytes": s.float32UploadBytes, "f32 basis": s.float32Basis.rawValue, "parameters": s.parameterCount,
            "cohorts identical": s.cohortsIdentical, "model": benchmark.base.modelLabel,
            "corpus": benchmark.base.corpus,
            "rounds": benchmark.base.rounds, "seeds": benchmark.seeds.map { Int64(bitPattern: $0) },
            "stopped runs": outcome.measurements.filter { !$0.isComplete }.map(\.runID),
        ]
        if let start = outcome.startEvaluation {
            document["start acc@1"] = start.accuracyAt1
            document["start acc@3"] = start.accuracyAt3
        }
        return document
    }
}

/// `kbd-sim bench quant`'s progress on stderr: a line per run started and per round committed
/// (none with --json).
struct BenchmarkProgress: QuantizationBenchmarkObserver {
    let progress: ProgressLine?

    func runStarting(_ experiment: QuantizationBenchmark.Experiment, seed: UInt64, index: Int, of total: Int) {
        guard progress != nil else { return }
        let dp =
            experiment.privacy.map { " DP noise \($0.noiseMultiplier)\($0.simulatedCohort.map { ", K' \($0)" } ?? "")" }
            ?? ""
        status(
            "run \(index)/\(total): codec \(experiment.codec), zlib \(experiment.zlibLevel) (\(experiment.scheme))\(dp), seed \(seed)"
        )
    }

    func roundCommitted(_ experiment: QuantizationBenchmark.Experiment, seed: UInt64, _ p: RoundProgress) {
        let dp = experiment.privacy.map { " z \($0.noiseMultiplier)" } ?? ""
        progress?.finish(
            "[\(experiment.codec) z\(experiment.zlibLevel)\(dp) seed \(seed)] " + RunCommand.progressLine(p))
    }
}
