import ArgumentParser
import FederatedCore
import Federation
import FederationFleet
import FederationProtocol
import FederationServer
internal import Foundation
import KernelPaths
import KeyboardCorpus
import QuantizationBench
import RunStore

/// `kbd-sim bench privacy`: noise multipliers × simulated cohorts × codecs on identical
/// cohorts, each against the same codec without DP; a table of ε against accuracy.
struct BenchPrivacyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract:
            "Train the same federated model with several DP noise levels (and without) and compare ε and accuracy.",
        discussion: """
            Each (codec, noise multiplier, simulated cohort) is one experiment, run once per seed \
            as a normal federated run committed to the SQLite store (--db); every codec also runs \
            without DP, the reference each private run's loss is measured against. For one seed \
            every experiment sees the same cohorts, availability, dropouts and virtual times (the \
            fleet's timing does not depend on the codec or the noise), so accuracy differs only \
            by the privacy mechanism. The DP settings other than the noise come from the --dp-* \
            flags (clip, weighting, adaptive clipping, accounting, δ); --dp-clip is required, or for \
            an n-gram model (kn2…kn5) --dp-max-ngrams, which makes its counts differentially \
            private (and --dp-max-count, --dp-count-threshold).

            Columns (the --json keys are the same): ε at δ after the last round, from the runs' \
            own accounting (say --dp-accounting; the default counts only the participations the \
            fleet really had); acc@1, acc@3 = final round, mean ± half-range over seeds; loss = \
            1 − acc@1 / acc@1 of the same codec without DP; MB up over the run.

            A simulated cohort K' trains with the run's K phones but calibrates the noise as if K' \
            had reported (noise × K/K'); those rows say so, and their ε uses K'. With the default \
            participation accounting a simulated cohort needs --max-participations, because the \
            K' world's participations are not simulated.

            Progress goes to stderr. Ctrl-C stops after the current round's commit and prints the \
            table of the runs completed so far.

            Examples:
              kbd-sim bench privacy --corpus synthetic --model cifg-small --devices 1000000 --cohort 10 --rounds 40 \\
                --dp-clip 0.5 --noise-multipliers 0.6,1,2,4 --simulated-cohorts 5000 --max-participations 4 --seeds 2
              kbd-sim bench privacy --corpus synthetic:corpora/synthetic-tiny.json --vocab 12 --model lstm-tiny --devices 3000 \\
                --cohort 8 --rounds 3 --eval-every 1 --dp-clip 0.5 --noise-multipliers 0.5,2 --seeds 1 --json
              kbd-sim bench privacy --corpus synthetic --model kn3 --devices 1000000 --cohort 1000 --rounds 10 \
                --dp-max-ngrams 16 --noise-multipliers 0.5,1,2 --max-participations 1
            """
    )

    @OptionGroup var options: FederatedRunOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Noise multipliers z to compare, comma-separated (each > 0).", valueName: "list"))
    var noiseMultipliers: String = "0.5,1,2,4"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Simulated cohorts K' crossed with every noise, comma-separated (default: none, the real cohort).",
            valueName: "list"))
    var simulatedCohorts: String?

    @Option(
        name: .long, help: ArgumentHelp("Codecs to compare (as in bench quant), comma-separated.", valueName: "list"))
    var codecs: String = "f32"

    @Option(name: .long, help: "zlib level of every codec, 0…9.")
    var zlib: Int = 1

    @Option(name: .long, help: "Run every experiment with seeds 1…N.")
    var seeds: Int = 2

    @Option(
        name: .long,
        help: "Evaluate every N rounds (default: rounds / 10, at least 1); the last round is always evaluated.")
    var evalEvery: Int?

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    func validate() throws {
        _ = try plan(devices: nil)
    }

    static func list<T>(_ text: String, flag: String, _ parse: (String) -> T?, rule: String) throws -> [T] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { entry in
            let t = entry.trimmingCharacters(in: .whitespaces)
            guard let value = parse(t) else { throw ValidationError("--\(flag) entry '\(t)' is not \(rule)") }
            return value
        }
    }

    func plan(devices: Int?) throws -> QuantizationBenchmark {
        let noises = try Self.list(
            noiseMultipliers, flag: "noise-multipliers", { Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } },
            rule: "a noise multiplier > 0, e.g. 0.5,1,2,4")
        let cohorts: [Int?] =
            try simulatedCohorts.map {
                try Self.list(
                    $0, flag: "simulated-cohorts", { Int($0).flatMap { $0 >= 1 ? $0 : nil } }, rule: "a cohort ≥ 1")
            } ?? [nil]
        guard (1...1000).contains(seeds) else { throw ValidationError("--seeds must be in 1…1000 (got \(seeds))") }
        if let evalEvery, evalEvery < 1 { throw ValidationError("--eval-every must be at least 1 (got \(evalEvery))") }
        var base = try options.runConfiguration(
            codec: "f32", evalEvery: evalEvery ?? max(1, options.rounds / 10), seed: 1, privacyNoise: noises[0])
        if let devices { base.devices = devices }
        guard let template = base.privacy else { throw ValidationError("a privacy benchmark needs --dp-clip C") }
        base.privacy = nil
        let variants: [QuantizationBenchmark.PrivacyVariant?] =
            [nil]
            + cohorts.flatMap { k in
                noises.map { QuantizationBenchmark.PrivacyVariant(noiseMultiplier: $0, simulatedCohort: k) }
            }
        do {
            return try QuantizationBenchmark(
                base: base, codecs: QuantizationBenchmark.codecList(codecs), zlibLevels: [zlib],
                seeds: (1...UInt64(seeds)).map { $0 }, target: nil, privacy: (variants, template))
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let (outcome, benchmark) = try await BenchQuantCommand.runOnIdenticalCohorts(options: options, json: json) {
            try plan(devices: $0)
        }
        report(outcome, benchmark: benchmark)
    }

    static let columns = [
        "codec", "noise", "simulated cohort", "epsilon", "acc@1", "acc@3", "loss", "MB up", "runs",
    ]

    private func report(_ outcome: QuantizationBenchmarkRunner.Outcome, benchmark: QuantizationBenchmark) {
        let s = outcome.summary
        let template = benchmark.privacyTemplate
        func megabytes(_ row: QuantizationBenchmark.Row) -> Double {
            let runs = outcome.measurements.filter { row.runIDs.contains($0.runID) }
            let bytes = runs.reduce(0.0) { $0 + Double($1.rounds.reduce(Int64(0)) { $0 + $1.bytesUp }) }
            return bytes / 1e6 / Double(max(1, runs.count))
        }
        if json {
            let rows: [[String: Any]] = s.rows.map { row in
                [
                    "codec": row.experiment.codec, "scheme": row.experiment.scheme,
                    "noise": row.experiment.privacy.map { $0.noiseMultiplier as Any } ?? NSNull(),
                    "simulated cohort": row.experiment.privacy?.simulatedCohort.map { $0 as Any } ?? NSNull(),
                    "epsilon": row.epsilon.map { $0 as Any } ?? NSNull(),
                    "delta": row.delta.map { $0 as Any } ?? NSNull(),
                    "acc@1": row.accuracyAt1.mean, "acc@1 ±": row.accuracyAt1.halfRange,
                    "acc@1 by seed": row.accuracyAt1.values, "acc@3": row.accuracyAt3.mean,
                    "acc@3 ±": row.accuracyAt3.halfRange, "loss": row.relativeLossAt1.map { $0 as Any } ?? NSNull(),
                    "MB up": megabytes(row), "runs": row.runIDs, "model sha256": row.finalModelSHA256,
                ]
            }
            printJSON([
                "rows": rows, "finished": outcome.finished, "model": benchmark.base.modelLabel,
                "corpus": benchmark.base.corpus, "rounds": benchmark.base.rounds, "cohort": benchmark.base.cohort,
                "devices": benchmark.base.devices, "cohorts identical": s.cohortsIdentical,
                "clip": template?.clipNorm ?? 0, "accounting": template?.accounting.rawValue ?? "",
                "seeds": benchmark.seeds.map { Int64(bitPattern: $0) },
            ])
            return
        }
        var table = SummaryTable(columns: Self.columns)
        for row in s.rows {
            table.append([
                row.experiment.codec, row.experiment.privacy.map { fixed($0.noiseMultiplier, digits: 2) } ?? "no DP",
                row.experiment.privacy?.simulatedCohort.map(grouped) ?? "-",
                row.epsilon.map { fixed($0, digits: 3) } ?? "∞",
                "\(fixed(row.accuracyAt1.mean)) ± \(fixed(row.accuracyAt1.halfRange))",
                "\(fixed(row.accuracyAt3.mean)) ± \(fixed(row.accuracyAt3.halfRange))",
                row.relativeLossAt1.map { "\(fixed(100 * $0, digits: 1))%" } ?? "-", fixed(megabytes(row), digits: 1),
                row.runIDs.map(String.init).joined(separator: ","),
            ])
        }
        if table.rows.isEmpty {
            print("no run completed; nothing to compare")
            return
        }
        print(table.render())
        let delta = s.rows.compactMap(\.delta).first.map { "\($0)" } ?? "-"
        print(
            """

            \(benchmark.base.modelLabel) on \(benchmark.base.corpus), \(grouped(benchmark.base.devices)) phones, cohort \(benchmark.base.cohort), \(benchmark.base.rounds) rounds, seeds \(benchmark.seeds.map(String.init).joined(separator: ","))
            DP: clip \(template.map { fixed($0.clipNorm, digits: 3) } ?? "-"), weights \(template?.weighting ?? "-"), δ = \(delta), accounting \(template?.accounting.rawValue ?? "-")\(template?.accounting == .poisson ? " (ASSUMES Poisson sampling, which this fleet does not do)" : "")
            rows with a simulated cohort calibrate the noise as if K' phones reported (noise × K/K'); their ε uses K'
            identical cohorts for every experiment of a seed (from the store): \(s.cohortsIdentical ? "yes" : "NO — see kbd-sim runs show")
            """)
        if !outcome.finished {
            print(
                "\(outcome.measurements.filter(\.isComplete).count) of \(benchmark.plannedRuns.count) runs complete; the table covers those"
            )
        }
    }
}
