import ArgumentParser
import FederatedCore
import Federation
import FederationFleet
import FederationProtocol
import FederationServer
internal import Foundation
import KeyboardCorpus
import LanguageModelTypes
import RunStore

/// `kbd-sim bench robust`: attacker fractions × attacks × defences, one federated run each,
/// on identical cohorts; a table of accuracy, backdoor success, bytes and server time.
struct BenchRobustCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "robust",
        abstract:
            "Train the same federated model under attack with each defence and compare accuracy and backdoor success.",
        discussion: """
            Every (attacker fraction, attack, defence) is one federated run committed to the store \
            (--db). Fraction 0 runs once per defence (no attack). Every run sees the same cohorts: \
            the compromised phones are fixed by --seed, the fleet's timing assumes the float32 \
            upload size, and neither the attack nor the defence changes who is selected. The \
            backdoor is measured on every run (the clean rows give its base rate).

            A defence is none (FedAvg), norm-bound:C[,sigma=S] (before the sum), a robust \
            aggregator in the sum's place (median, trimmed-mean:β, krum:f=F, multi-krum:f=F;m=M — \
            a ';' inside a defence stands for the ',' of its setting), or a bound and an \
            aggregator joined by '+' (norm-bound:1+median).

            Columns (--json keys the same): acc@1 and backdoor@1/@3 after the last round; MB up \
            over the run; server s/round = the mean server seconds per round without evaluation \
            (aggregation, defence, optimizer, commit).

            Progress goes to stderr. Ctrl-C stops after the current round's commit, prints the \
            table of the runs completed so far (the stopped one marked, resumable with kbd-sim \
            run --resume ID); a second Ctrl-C quits at once. The store stays consistent either \
            way.

            Example:
              kbd-sim bench robust --corpus synthetic:corpora/synthetic-tiny.json --vocab 12 --model lstm-tiny \\
                --devices 3000 --cohort 10 --rounds 12 --client-lr 1 --batch 4 \\
                --backdoor-trigger "fe bo" --backdoor-target do \\
                --attacker-fractions 0,0.2 --attacks backdoor,boost:10 --defences none,norm-bound:0.5,median,krum:f=2
            """
    )

    @OptionGroup var options: FederatedRunOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Attacker fractions of the fleet, in [0, 1), comma-separated.", valueName: "list"))
    var attackerFractions: String = "0,0.1"

    @Option(name: .long, help: ArgumentHelp("Attacks (kbd-sim run --attack), comma-separated.", valueName: "list"))
    var attacks: String = "backdoor,boost:10"

    @Option(name: .long, help: ArgumentHelp("Defences, comma-separated (see above).", valueName: "list"))
    var defences: String = "none,norm-bound:1,median,trimmed-mean:0.1"

    @Option(name: .long, help: "The backdoor's trigger phrase (default \"my password is\").")
    var backdoorTrigger: String?

    @Option(name: .long, help: ArgumentHelp("The word the backdoor wants suggested.", valueName: "word"))
    var backdoorTarget: String

    @Option(name: .long, help: "Evaluate every N rounds (default: only after the last).")
    var evalEvery: Int = 0

    @Option(name: .long, help: "Seed of the fleet, the attackers, selection, training and codec.")
    var seed: UInt64 = 1

    @Option(name: .long, help: ArgumentHelp("Update codec scheme for every run.", valueName: "scheme"))
    var codec: String = "rot,q8s,z1"

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    struct Experiment {
        var fraction: Double
        var attack: String?
        var defence: String
        var configuration: RunConfiguration
    }

    func validate() throws { _ = try plan() }

    /// The defence's aggregation chain.
    static func chain(_ defence: String) throws -> [String]? {
        let parts = defence.split(separator: "+").map {
            $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ";", with: ",")
        }
        guard !(parts.count == 1 && parts[0] == "none") else { return nil }
        var bound: [String] = []
        var aggregator = "sum"
        for p in parts {
            if p.hasPrefix("norm-bound") {
                bound.append(p)
            } else if aggregator == "sum" {
                aggregator = p
            } else {
                throw ValidationError(
                    "--defences entry '\(defence)' names two aggregators; join at most a norm-bound and one aggregator with '+'"
                )
            }
        }
        return ["decode"] + bound + ["weight", aggregator, "server-optimizer"]
    }

    /// Every run of the benchmark, each configuration checked.
    func plan(devices: Int? = nil) throws -> [Experiment] {
        func list(_ text: String, _ flag: String) throws -> [String] {
            let items = text.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard !items.contains(where: \.isEmpty) else {
                throw ValidationError("\(flag) has an empty entry: '\(text)'")
            }
            return items
        }
        var fractions: [Double] = []
        for entry in try list(attackerFractions, "--attacker-fractions") {
            guard let f = Double(entry), f >= 0, f < 1 else {
                throw ValidationError("--attacker-fractions entry '\(entry)' must be a fraction in [0, 1)")
            }
            fractions.append(f)
        }
        let attackList = try list(attacks, "--attacks")
        for a in attackList { _ = try ParsedSetting<AttackKind>.parse(a, flag: "--attacks") }
        var base = try options.runConfiguration(
            codec: try ParsedSetting.parse(codec, flag: "--codec"), evalEvery: evalEvery, seed: seed)
        if let devices { base.devices = devices }
        base.uploadTiming = .float32Size
        base.backdoorTrigger = backdoorTrigger
        base.backdoorTarget = backdoorTarget
        var experiments: [Experiment] = []
        for fraction in fractions {
            for attack in fraction == 0 ? [nil] : attackList.map(Optional.some) {
                for defence in try list(defences, "--defences") {
                    var c = base
                    c.aggregationStages = try Self.chain(defence)
                    if let attack, fraction > 0 {
                        c.attackers = fraction
                        c.attack = try ParsedSetting.parse(attack, flag: "--attacks")
                    }
                    do { try c.validate() } catch {
                        throw ValidationError("\(defence), \(attack ?? "no attack") at \(fraction): \(error.message)")
                    }
                    experiments.append(
                        Experiment(fraction: fraction, attack: attack, defence: defence, configuration: c))
                }
            }
        }
        return experiments
    }

    struct Row {
        var experiment: Experiment
        var runID: Int64
        var accuracyAt1: Double?
        var backdoorAt1: Double?
        var backdoorAt3: Double?
        var bytesUp: Int64
        var serverSecondsPerRound: Double
        /// Stopped by Ctrl-C before its last round (resumable with `kbd-sim run --resume`).
        var stopped = false
    }

    func run() async throws {
        let draft = try plan()
        let dataset = try FederatedDataset(
            configuration: draft[0].configuration, loader: CorpusLoader(usesCache: !options.noCache))
        var fitted = draft[0].configuration
        try options.fitFleet(&fitted, to: dataset)
        let experiments = try plan(devices: fitted.devices)
        try AttackOptions.checkBackdoor(experiments[0].configuration, vocabulary: dataset)
        if !json { status("\(experiments.count) runs into \(options.db)") }
        // Only now, with every input checked and the corpus loaded, is the store opened.
        let store = try RunStore.open(path: options.db)
        let server = AggregationServer(store: store, loadDataset: { _ in dataset })
        let stop = StopSwitch()
        let interrupts = InterruptHandler { stop.request() }
        defer { interrupts.cancel() }
        var rows: [Row] = []
        for (i, e) in experiments.enumerated() {
            let runner = FederatedRunner(
                transport: InProcessTransport(server: server), dataset: dataset, workers: options.workers)
            guard stop.start(runner) else { break }
            if !json {
                status(
                    "run \(i + 1)/\(experiments.count): attackers \(e.fraction), \(e.attack ?? "no attack"), defence \(e.defence)"
                )
            }
            let outcome = try await runner.run(configuration: e.configuration)
            let rounds = outcome.rounds
            let last = rounds.last { $0.summary.evaluation != nil }?.summary
            let serverSeconds = rounds.reduce(0.0) { $0 + $1.summary.serverSeconds - $1.summary.evaluationSeconds }
            rows.append(
                Row(
                    experiment: e, runID: outcome.attachment.runID, accuracyAt1: last?.evaluation?.accuracyAt1,
                    backdoorAt1: last?.backdoor?.accuracyAt1, backdoorAt3: last?.backdoor?.accuracyAt3,
                    bytesUp: rounds.reduce(0) { $0 + $1.summary.bytesUp },
                    serverSecondsPerRound: rounds.isEmpty ? 0 : serverSeconds / Double(rounds.count),
                    stopped: !outcome.finished))
            if !outcome.finished { break }
        }
        report(rows, planned: experiments.count)
    }

    static let columns = [
        "attackers", "attack", "defence", "acc@1", "backdoor@1", "backdoor@3", "MB up", "server s/round", "run",
    ]

    private func report(_ rows: [Row], planned: Int) {
        if json {
            printJSON([
                "planned runs": planned, "finished": rows.count == planned && !rows.contains(where: \.stopped),
                "rows": rows.map { r -> [String: Any] in
                    var d: [String: Any] = [
                        "attackers": r.experiment.fraction, "attack": r.experiment.attack ?? "none",
                        "defence": r.experiment.defence, "bytes up": r.bytesUp, "MB up": Double(r.bytesUp) / 1e6,
                        "server s/round": r.serverSecondsPerRound, "run": r.runID, "stopped": r.stopped,
                    ]
                    d["acc@1"] = r.accuracyAt1
                    d["backdoor@1"] = r.backdoorAt1
                    d["backdoor@3"] = r.backdoorAt3
                    return d
                },
                "trigger": backdoorTrigger ?? RunConfiguration.defaultBackdoorTrigger, "target": backdoorTarget,
            ])
            return
        }
        var table = SummaryTable(columns: Self.columns)
        for r in rows {
            table.append([
                fixed(r.experiment.fraction, digits: 2), r.experiment.attack ?? "-", r.experiment.defence,
                r.accuracyAt1.map { fixed($0) } ?? "-", r.backdoorAt1.map { fixed($0) } ?? "-",
                r.backdoorAt3.map { fixed($0) } ?? "-", fixed(Double(r.bytesUp) / 1e6, digits: 3),
                fixed(r.serverSecondsPerRound, digits: 4), r.stopped ? "\(r.runID) (stopped)" : String(r.runID),
            ])
        }
        print(table.render())
        if rows.count < planned || rows.contains(where: \.stopped) {
            let resume =
                rows.last(where: \.stopped).map {
                    "; resume the stopped run with kbd-sim run --resume \($0.runID) --db \(options.db)"
                } ?? ""
            print("\nstopped: \(rows.filter { !$0.stopped }.count) of \(planned) runs finished\(resume)")
        }
        print(
            "\nbackdoor: \(backdoorTrigger ?? RunConfiguration.defaultBackdoorTrigger) → \(backdoorTarget); same cohorts in every run (seed \(seed))"
        )
    }
}

/// The bench's stop request and the run it must reach: Ctrl-C stops the current run after its
/// round's commit, and no later run starts.
private final class StopSwitch: @unchecked Sendable {
    // @unchecked: both fields are guarded by `lock`.
    private let lock = NSLock()
    private var stopRequested = false
    private var current: FederatedRunner?

    var requested: Bool { lock.withLock { stopRequested } }

    func request() {
        let runner = lock.withLock { () -> FederatedRunner? in
            stopRequested = true
            return current
        }
        runner?.requestStop()
    }

    /// Makes `runner` the one a stop reaches; false if a stop came first.
    func start(_ runner: FederatedRunner) -> Bool {
        lock.withLock {
            if !stopRequested { current = runner }
            return !stopRequested
        }
    }
}
