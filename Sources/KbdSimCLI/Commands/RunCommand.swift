import ArgumentParser
import Dispatch
import FederatedCore
import Federation
import FederationFleet
import FederationHTTP
import FederationProtocol
import FederationServer
import Fleet
internal import Foundation
import KeyboardCorpus
import LanguageModelTypes
import RunStore
import UpdateCodec

/// `kbd-sim run`: a federated training run, the product's main job.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train a keyboard model federated over a fleet of virtual phones and report accuracy by round.",
        discussion: """
            Each round selects devices that are charging, on Wi-Fi and idle, sends them the \
            global model, trains it on each device's own recent text (E local epochs of SGD), \
            encodes the deltas with --codec, aggregates them on the server (--server-opt) and \
            commits the round to the SQLite store (--db) in one transaction. Neural models train \
            by weight deltas; knN models by n-gram count updates. Every --eval-every rounds the \
            global model is scored on the evaluation users (nwp-v1, user split).

            Ctrl-C stops after the current round's commit point and leaves the store consistent; \
            `--resume ID` continues a stopped or crashed run from its last committed round with \
            the same result as an uninterrupted run (with --server, the server re-attaches it \
            from its store, also after the server restarted).

            Examples:
              kbd-sim run --corpus synthetic --devices 100000 --cohort 50 --rounds 100 --model cifg-small --codec rot,q8s,z1
              kbd-sim run --corpus smsCorpus_en_xml_2015.03.09_all.zip --model kn3 --cohort 20 --rounds 30
              kbd-sim run --corpus smsCorpus_en_xml_2015.03.09_all.zip --model cifg-small --cohort 20 --rounds 800 \\
                --round-interval 3600 --client-lr 1 --batch 4 --server-opt fedadam:lr=0.02,halflife=300 \\
                --max-device-messages 128 --client-dropout 0.25 \\
                --over-selection 1.0 --deadline 3600 --min-report-fraction 0.5 --home-wifi-fraction 1
              kbd-sim run --corpus synthetic --model cifg-small --devices 1000000 --cohort 50 --rounds 100 \\
                --dp-noise 1.0 --dp-clip 1.0 --max-participations 4
              kbd-sim run --corpus synthetic --model kn3 --devices 1000000 --cohort 1000 --rounds 10 \\
                --dp-noise 1.0 --dp-max-ngrams 16 --max-participations 1
              kbd-sim run --corpus synthetic --model cifg-small --cohort 20 --rounds 20 \\
                --codec clip=0.5,q8s --secure-aggregation --secagg-dropout 0.05
              kbd-sim run --resume 3 --db runs.sqlite
              kbd-sim run --server http://127.0.0.1:8080 --token-file runs.sqlite.token --corpus synthetic --rounds 20
            """
    )

    @OptionGroup var options: FederatedRunOptions

    @OptionGroup(title: "Attackers") var attackOptions: AttackOptions

    @OptionGroup(title: "Secure aggregation") var secureAggregationOptions: SecureAggregationOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Update codec scheme, e.g. f32, q8s,z6, rot,q4s,z1 (kbd-sim codec bench --help).", valueName: "scheme"),
        transform: { try ParsedSetting.parse($0, flag: "--codec") })
    var codec: ParsedSetting<CodecScheme> = "rot,q8s,z1"

    @Option(name: .long, help: "Evaluate on the evaluation users every N rounds (0: only after the last round).")
    var evalEvery: Int = 10

    @Option(name: .long, help: "Seed of the fleet, selection, training and codec.")
    var seed: UInt64 = 1

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Continue this run from its last committed round (its stored configuration is used).", valueName: "run-id"))
    var resume: Int64?

    @Option(
        name: .long,
        help: ArgumentHelp("Run against a kbd-sim server over HTTP instead of in-process.", valueName: "url"))
    var server: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --server: the server's operator token file (kbd-sim server writes DB.token); or set KBD_SIM_TOKEN.",
            valueName: "file"))
    var tokenFile: String?

    @Flag(
        name: .long,
        help:
            "With --server and --shard-size: train on `kbd-sim worker` processes that lease shards from the server, not here."
    )
    var remoteTraining = false

    @Option(name: .long, help: "With --remote-training: wall seconds a worker holds a shard before another gets it.")
    var leaseSeconds: Double = 600

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write each round's cohort (messages, weights) as JSON for tools/bench_fedavg.py.", valueName: "file"))
    var exportWorkload: String?

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    private var db: String { options.db }

    func validate() throws {
        if tokenFile != nil, server == nil {
            throw ValidationError("--token-file goes with --server (an in-process run needs no credential)")
        }
        if remoteTraining, server == nil {
            throw ValidationError(
                "--remote-training needs --server: workers lease shards from a kbd-sim server (kbd-sim worker --coordinator URL)"
            )
        }
        guard leaseSeconds.isFinite, (1...86_400).contains(leaseSeconds) else {
            throw ValidationError("--lease-seconds must be in 1…86400 (got \(leaseSeconds))")
        }
        if resume != nil, server == nil, !FileManager.default.fileExists(atPath: db) {
            throw ValidationError("--resume needs the store the run is in; \(db) does not exist (pass --db)")
        }
        if secureAggregationOptions.secureAggregation, remoteTraining {
            throw ValidationError(
                "--secure-aggregation with --remote-training is not built: workers pre-aggregate decoded updates, which masking hides; drop one of them"
            )
        }
    }

    /// The run configuration from the flags.
    func runConfiguration() throws -> RunConfiguration {
        var c = try options.runConfiguration(codec: codec, evalEvery: evalEvery, seed: seed)
        try attackOptions.apply(to: &c)
        secureAggregationOptions.apply(to: &c)
        return c
    }

    func run() async throws {
        var configuration: RunConfiguration?
        if resume == nil { configuration = try runConfiguration() }
        let loader = CorpusLoader(usesCache: !options.noCache)

        // The fleet's text (and, in-process, the server's evaluation side: loaded once).
        let datasetConfiguration: RunConfiguration
        if let configuration {
            datasetConfiguration = configuration
        } else {
            datasetConfiguration = try await storedConfiguration(run: resume!)
        }
        let t0 = now()
        let dataset = try FederatedDataset(configuration: datasetConfiguration, loader: loader)
        if var c = configuration {
            try options.fitFleet(&c, to: dataset)  // one phone per training user of a file corpus
            try AttackOptions.checkBackdoor(c, vocabulary: dataset)
            configuration = c
        }
        if !json {
            status(
                "corpus ready in \(fixed(now() - t0, digits: 1)) s: \(grouped(dataset.evalMessages.count)) evaluation messages, V = \(grouped(dataset.vocabulary.count - 4))"
            )
        }

        let transport: any ServerTransport
        if let server {
            transport = try HTTPTransport(baseURL: server, token: try TokenFile.driverToken(file: tokenFile))
        } else {
            let store = try RunStore.open(path: db)
            let shared = dataset
            transport = InProcessTransport(server: AggregationServer(store: store, loadDataset: { _ in shared }))
        }
        let workload = exportWorkload.map { _ in WorkloadRecorder() }
        let rows = RowCollector()
        if remoteTraining, let c = configuration, c.shardSize == nil {
            throw ValidationError("--remote-training needs --shard-size: the phones per shard a worker leases")
        }
        let runner = FederatedRunner(
            transport: transport, dataset: dataset, workers: options.workers,
            observer: CommandLineRunObserver(
                rows: rows, progress: json ? nil : ProgressLine(plainInterval: 0), workload: workload),
            remoteTraining: remoteTraining ? RemoteTraining(leaseSeconds: leaseSeconds) : nil)
        let interrupts = InterruptHandler { runner.requestStop() }
        defer { interrupts.cancel() }

        let outcome = try await runner.run(configuration: configuration, resume: resume)
        if let workload, let path = exportWorkload {
            try workload.write(to: path, configuration: outcome.attachment.configuration)
        }
        // Which phones ever reported: the whole run's participation in-process (a resumed
        // run included), this invocation's rounds over HTTP.
        var reporters = Set(rows.all.flatMap { $0.outcome.reported.map(Int.init) })
        if server == nil, let store = try? RunStore.open(path: db),
            let all = try? store.participation(ofRun: outcome.attachment.runID)
        {
            reporters.formUnion(all.keys.map { Int($0) })
        }
        try report(outcome, rounds: rows.all, coverage: dataset.coverage(ofDevices: reporters))
    }

    /// The stored configuration of run `id`: from the local store, or with --server from the
    /// server (which re-attaches the run from its store, e.g. after it restarted).
    private func storedConfiguration(run id: Int64) async throws -> RunConfiguration {
        if let server {
            let transport = try HTTPTransport(baseURL: server, token: try TokenFile.driverToken(file: tokenFile))
            return try await transport.resumeRun(id: id).configuration
        }
        let store = try RunStore.open(path: db)
        return try RunConfiguration.decode(json: try store.requireRun(id: id).config)
    }

    static func progressLine(_ p: RoundProgress) -> String {
        var line =
            "round \(p.round)/\(p.totalRounds)  \(virtualClock(p.summary.virtualEnd))  reported \(p.summary.reported)/\(p.outcome.selected.count)"
        if p.summary.abandoned { line += " (abandoned)" }
        line += "  up \(fixed(Double(p.cumulativeBytesUp) / 1e6, digits: 1)) MB"
        if let e = p.summary.evaluation { line += "  acc@1 \(fixed(e.accuracyAt1))  acc@3 \(fixed(e.accuracyAt3))" }
        if let u = p.summary.users { line += "  user p10 \(fixed(u.at1.p10))" }
        if let personal = p.summary.personalization {
            line += "  personalized \(fixed(personal.personalized.accuracyAt1))"
        }
        if let r = p.summary.regression, r.regressed {
            line += "  REGRESSION −\(fixed(r.drop)) vs round \(r.bestRound)"
            if let to = r.rolledBackTo { line += " (rolled back to \(to))" }
        }
        if let privacy = p.summary.privacy {
            line += "  ε \(fixed(privacy.epsilon, digits: 3))"
            if privacy.accounting == "poisson" { line += " (assumes Poisson sampling)" }
        }
        line += "  \(fixed(p.fleetSeconds + p.summary.serverSeconds, digits: 1)) s"
        return line
    }

    static func virtualClock(_ t: Int) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(t))
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE HH:mm"
        return f.string(from: date) + " UTC"
    }

    private func report(_ outcome: FederatedRunner.Outcome, rounds: [RoundProgress], coverage: TextCoverage?) throws {
        let c = outcome.attachment.configuration
        let evaluated = rounds.filter { $0.summary.evaluation != nil }
        let last = evaluated.last?.summary.evaluation
        let bytesUp = rounds.reduce(Int64(0)) { $0 + $1.summary.bytesUp }
        let bytesDown = rounds.reduce(Int64(0)) { $0 + $1.summary.bytesDown }
        let wall = rounds.reduce(0.0) { $0 + $1.fleetSeconds + $1.summary.serverSeconds }
        let reported = rounds.reduce(0) { $0 + $1.summary.reported }
        if json {
            let perRound: [[String: Any]] = rounds.map { p in
                var row: [String: Any] = [
                    "round": p.round, "selected": p.outcome.selected.count, "reported": p.summary.reported,
                    "dropped": p.outcome.dropped.count + p.failedDevices, "stragglers": p.outcome.stragglers.count,
                    "abandoned": p.summary.abandoned, "tokens": p.summary.tokens, "bytes up": p.summary.bytesUp,
                    "bytes down": p.summary.bytesDown, "virtual end": p.summary.virtualEnd,
                    "train s": p.trainSeconds, "eval s": p.summary.evaluationSeconds,
                    "wall s": p.fleetSeconds + p.summary.serverSeconds, "model sha256": p.summary.modelSHA256,
                ]
                if let e = p.summary.evaluation {
                    row["acc@1"] = e.accuracyAt1
                    row["acc@3"] = e.accuracyAt3
                    row["acc@1-iv"] = e.accuracyAt1InVocabulary
                    if e.perplexity.isFinite { row["ppl"] = e.perplexity }
                }
                if let b = p.summary.backdoor {
                    row["backdoor@1"] = b.accuracyAt1
                    row["backdoor@3"] = b.accuracyAt3
                }
                if let f = p.summary.federatedEvaluation {
                    row["federated acc@1"] = f.accuracyAt1
                    row["federated acc@3"] = f.accuracyAt3
                }
                if let privacy = p.summary.privacy {
                    row["epsilon"] = privacy.epsilon
                    row["max participations"] = privacy.maximumParticipations
                }
                Self.addUserFigures(p.summary, to: &row)
                SecureAggregationOptions.addFigures(p.summary, to: &row)
                return row
            }
            var summary: [String: Any] = [
                "run": outcome.attachment.runID, "finished": outcome.finished, "model": c.modelLabel,
                "corpus": c.corpus,
                "codec": c.codec.text, "server optimizer": c.serverOptimizer.text, "rounds": rounds.count,
                "reported": reported,
                "MB up": Double(bytesUp) / 1e6, "MB down": Double(bytesDown) / 1e6, "wall s": wall,
                "transport": server ?? "in-process",
            ]
            if let last {
                summary["acc@1"] = last.accuracyAt1
                summary["acc@3"] = last.accuracyAt3
                summary["acc@1-iv"] = last.accuracyAt1InVocabulary
                if last.perplexity.isFinite { summary["ppl"] = last.perplexity }
            }
            if let b = rounds.last(where: { $0.summary.backdoor != nil })?.summary.backdoor {
                summary["backdoor@1"] = b.accuracyAt1
                summary["backdoor@3"] = b.accuracyAt3
            }
            if let start = outcome.attachment.startEvaluation {
                summary["start acc@1"] = start.accuracyAt1
                summary["start acc@3"] = start.accuracyAt3
            }
            if let sha = rounds.last?.summary.modelSHA256 { summary["model sha256"] = sha }
            if let p = evaluated.last { Self.addUserFigures(p.summary, to: &summary) }
            summary["regressions"] = rounds.filter { $0.summary.regression?.regressed == true }.count
            summary["rollbacks"] = rounds.filter { $0.summary.regression?.rolledBackTo != nil }.count
            if let privacy = rounds.last(where: { $0.summary.privacy != nil })?.summary.privacy {
                summary["epsilon"] = privacy.epsilon
                summary["delta"] = privacy.delta
                summary["accounting"] = privacy.accounting
                summary["epsilon assumes"] = privacy.assumption
                summary["max participations"] = privacy.maximumParticipations
                if let k = privacy.simulatedCohort { summary["simulated cohort"] = k }
                if let gamma = privacy.skellamScale {
                    // Distributed DP: what `kbd-sim privacy epsilon --mechanism skellam` takes.
                    summary["epsilon method"] = privacy.method
                    summary["skellam scale"] = gamma
                    summary["skellam variance"] = privacy.skellamVariance
                    summary["l1 sensitivity"] = privacy.l1Sensitivity
                    summary["l2 sensitivity"] = privacy.l2Sensitivity
                }
            }
            if let coverage {
                summary["reporting users"] = coverage.users
                summary["training users"] = coverage.trainingUsers
                summary["their messages"] = coverage.messages
                summary["training messages"] = coverage.trainingMessages
            }
            SecureAggregationOptions.addTotals(rounds.map(\.summary), to: &summary)
            printJSON(["run": outcome.attachment.runID, "rounds": perRound, "summary": summary])
            return
        }
        let isPrivate = c.privacy != nil
        var table = SummaryTable(
            columns: [
                "round", "virtual time", "reported", "dropped", "stragglers", "MB up", "acc@1", "acc@3", "acc@1-iv",
                "ppl",
            ] + (isPrivate ? ["epsilon"] : []))
        if let e = outcome.attachment.startEvaluation {
            table.append(
                [
                    "start", Self.virtualClock(c.startTime), "-", "-", "-", "0.0", fixed(e.accuracyAt1),
                    fixed(e.accuracyAt3), fixed(e.accuracyAt1InVocabulary),
                    e.perplexity.isFinite ? fixed(e.perplexity, digits: 1) : "-",
                ] + (isPrivate ? ["0"] : []))
        }
        for p in evaluated {
            let e = p.summary.evaluation!
            table.append(
                [
                    String(p.round), Self.virtualClock(p.summary.virtualEnd), String(p.summary.reported),
                    String(p.outcome.dropped.count + p.failedDevices), String(p.outcome.stragglers.count),
                    fixed(Double(p.cumulativeBytesUp) / 1e6, digits: 1), fixed(e.accuracyAt1), fixed(e.accuracyAt3),
                    fixed(e.accuracyAt1InVocabulary), e.perplexity.isFinite ? fixed(e.perplexity, digits: 1) : "-",
                ] + (isPrivate ? [p.summary.privacy.map { fixed($0.epsilon, digits: 3) } ?? "-"] : []))
        }
        if !table.rows.isEmpty { print(table.render()) }
        if let secure = SecureAggregationOptions.table(rounds.map { ($0.round, $0.summary) }) { print("\n" + secure) }
        if let p = evaluated.last { Self.printUserFigures(p.summary, round: p.round) }
        for p in rounds {
            guard let r = p.summary.regression, r.regressed else { continue }
            print(
                "regression at round \(p.round): acc@1 \(fixed(r.accuracyAt1)), \(fixed(r.drop)) below round \(r.bestRound)'s \(fixed(r.bestAccuracyAt1))"
                    + (r.rolledBackTo.map { "; rolled back to round \($0)'s checkpoint" } ?? ""))
        }
        let backdoors = rounds.compactMap { p in p.summary.backdoor.map { (p.round, $0) } }
        if let (round, b) = backdoors.last {
            print(
                "backdoor (\(c.backdoorTrigger ?? RunConfiguration.defaultBackdoorTrigger) → \(c.backdoorTarget ?? "?")) after round \(round): backdoor@1 \(fixed(b.accuracyAt1)), backdoor@3 \(fixed(b.accuracyAt3)) over \(b.predictions) trigger contexts"
            )
        }
        let state =
            outcome.finished
            ? "finished"
            : "stopped (resume with: kbd-sim run --resume \(outcome.attachment.runID) \(server.map { "--server \($0) --token-file FILE\(remoteTraining ? " --remote-training" : "")" } ?? "--db \(db)"))"
        print(
            """

            run \(outcome.attachment.runID) \(state): \(c.modelLabel) on \(c.corpus), \(rounds.count) rounds here, \(grouped(reported)) reports, \
            \(fixed(Double(bytesUp) / 1e6, digits: 1)) MB up, \(fixed(Double(bytesDown) / 1e6, digits: 1)) MB down, \(fixed(wall, digits: 1)) s wall
            """)
        if let privacy = rounds.last(where: { $0.summary.privacy != nil })?.summary.privacy {
            let simulated =
                privacy.simulatedCohort.map { ", noise calibrated for a SIMULATED cohort of \(grouped($0))" } ?? ""
            print(
                "privacy: ε = \(fixed(privacy.epsilon, digits: 3)) at δ = \(privacy.delta) (\(privacy.method), \(privacy.accounting) accounting\(simulated)); \(privacy.assumption)"
            )
        }
        if let coverage {
            print(
                "phones that reported: \(coverage.users) of \(coverage.trainingUsers) training users, holding \(grouped(coverage.messages)) of "
                    + "\(grouped(coverage.trainingMessages)) training messages (\(fixed(100 * coverage.messageShare, digits: 0))%)"
            )
        }
    }
}

extension RunCommand {
    /// The per-user distribution, personalization and regression figures of a round, under
    /// the keys of the tables (`user p10 acc@1`, `personalized acc@1`, `users hurt`, …).
    static func addUserFigures(_ s: RoundSummary, to row: inout [String: Any]) {
        if let u = s.users { for (k, v) in u.dictionary { row[k] = v } }
        if let f = s.federatedUsers { for (k, v) in f.dictionary { row["federated " + k] = v } }
        if let p = s.personalization { for (k, v) in p.dictionary { row[k] = v } }
        if let r = s.regression {
            row["regression"] = r.regressed
            row["best round"] = r.bestRound
            if let to = r.rolledBackTo { row["rolled back to"] = to }
        }
    }

    /// The per-user table after a run's last evaluation.
    static func printUserFigures(_ s: RoundSummary, round: Int) {
        guard let u = s.users else { return }
        var table = SummaryTable(columns: [
            "round \(round)", "users", "pooled", "mean", "p10", "median", "p90", "worst 10%",
        ])
        table.append([
            "acc@1", String(u.users), fixed(u.at1.pooled), fixed(u.at1.mean), fixed(u.at1.p10), fixed(u.at1.median),
            fixed(u.at1.p90), fixed(u.worstDecileAt1),
        ])
        table.append([
            "acc@3", String(u.users), fixed(u.at3.pooled), fixed(u.at3.mean), fixed(u.at3.p10), fixed(u.at3.median),
            fixed(u.at3.p90), "",
        ])
        print("\nper user (evaluation users):\n" + table.render())
        print("users below acc@1 \(fixed(u.threshold)): \(fixed(100 * u.shareBelow, digits: 1))%")
        if let p = s.personalization {
            let d = p.dictionary
            print(
                "personalized on the phone: acc@1 \(fixed(p.global.accuracyAt1)) global → \(fixed(p.personalized.accuracyAt1)) personalized on the users' later text; "
                    + "per-user gain median \(fixed(d["user gain median"] ?? 0)), p10 \(fixed(d["user gain p10"] ?? 0)), p90 \(fixed(d["user gain p90"] ?? 0)); "
                    + "helped \(fixed(100 * p.helpedShare, digits: 1))%, hurt \(fixed(100 * p.hurtShare, digits: 1))% of \(p.personalizedUsers.count) users"
                    + (p.lambda.map { ", λ = \(fixed($0, digits: 1))" } ?? ""))
        }
    }
}

/// Collects the progress of every round (the runner calls back from its own task).
final class RowCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [RoundProgress] = []

    func append(_ p: RoundProgress) {
        lock.lock()
        rows.append(p)
        lock.unlock()
    }

    var all: [RoundProgress] {
        lock.lock()
        defer { lock.unlock() }
        return rows
    }
}

/// The cohorts of a run, written as the workload of tools/bench_fedavg.py.
final class WorkloadRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var rounds: [[String: Any]] = []

    func record(round: Int, messages: [[[Int32]]], weights: [Int]) {
        let clients = messages.map { $0.map { $0.map(Int.init) } }
        lock.lock()
        rounds.append(["round": round, "clients": clients, "weights": weights])
        lock.unlock()
    }

    func write(to path: String, configuration c: RunConfiguration) throws {
        guard let config = c.model.neuralConfig else {
            throw ValidationError("--export-workload needs a neural model (the PyTorch loop trains the LSTM)")
        }
        let model = try JSONSerialization.jsonObject(with: config.encodedJSON())
        lock.lock()
        let document: [String: Any] = [
            "model": model, "epochs": c.client.epochs, "batch": c.client.batchSize,
            "lr": Double(c.client.learningRate), "maxLength": c.client.maxMessageLength,
            "clip": Double(c.client.clipNorm), "rounds": rounds,
        ]
        lock.unlock()
        let data = try JSONSerialization.data(withJSONObject: document)
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// What `kbd-sim run` shows while a run goes: a progress line per committed round (none with
/// --json), the rows of the summary table, and the cohorts for --export-workload.
private struct CommandLineRunObserver: RunObserver {
    let rows: RowCollector
    let progress: ProgressLine?
    let workload: WorkloadRecorder?

    var wantsCohorts: Bool { workload != nil }

    func cohortTrained(round: Int, messages: [[[Int32]]], weights: [Int]) {
        workload?.record(round: round, messages: messages, weights: weights)
    }

    func roundCommitted(_ progress: RoundProgress) {
        rows.append(progress)
        self.progress?.finish(RunCommand.progressLine(progress))
    }
}
