import Aggregation
import ArgumentParser
import FederatedCore
import FederationProtocol
import FederationServer
internal import Foundation
import LanguageModelTypes
import RunStore

/// `kbd-sim runs`: what the run store holds.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List and inspect the federated runs kept in a SQLite run store.",
        discussion: """
            Examples:
              kbd-sim runs list --db runs.sqlite
              kbd-sim runs show 3 --db runs.sqlite --json
              kbd-sim runs branch 3 --from-round 40 --server-opt fedadam:lr=0.005 --db runs.sqlite
            """,
        subcommands: [RunsListCommand.self, RunsShowCommand.self, RunsBranchCommand.self]
    )
}

/// `--db`, shared by the runs subcommands; the store must exist (reading never creates one).
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The SQLite run store.")
    var db: String = "runs.sqlite"

    func open() throws -> RunStore {
        guard FileManager.default.fileExists(atPath: db) else {
            throw ValidationError("no run store at \(db); pass --db with the file kbd-sim run wrote")
        }
        return try RunStore.open(path: db)
    }
}

struct RunsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "One line per run: status, model, corpus, codec, rounds, last accuracy, upload volume.",
        discussion: """
            Example:
              kbd-sim runs list --db runs.sqlite
            """
    )

    @OptionGroup var store: StoreOptions

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    func run() throws {
        let store = try store.open()
        var table = SummaryTable(columns: [
            "run", "created", "status", "model", "corpus", "codec", "rounds", "acc@1", "acc@3", "MB up",
        ])
        var documents: [[String: Any]] = []
        for run in try store.runs() {
            let id = run.id!
            let rounds = try store.rounds(ofRun: id)
            let planned = (try? RunConfiguration.decode(json: run.config))?.rounds
            let last = try store.evaluations(ofRun: id).last(where: \.isHeadline)
            let up = Double(rounds.reduce(Int64(0)) { $0 + $1.bytesUp }) / 1e6
            table.append([
                String(id), run.createdAt, run.status.rawValue, run.model, run.corpus, run.codec,
                "\(rounds.count)/\(planned.map(String.init) ?? "?")", last.map { fixed($0.acc1) } ?? "-",
                last.map { fixed($0.acc3) } ?? "-", fixed(up, digits: 1),
            ])
            var doc: [String: Any] = [
                "run": id, "created": run.createdAt, "status": run.status.rawValue, "model": run.model,
                "corpus": run.corpus,
                "codec": run.codec, "rounds": rounds.count, "MB up": up,
            ]
            if let planned { doc["planned rounds"] = planned }
            if let last {
                doc["acc@1"] = last.acc1
                doc["acc@3"] = last.acc3
            }
            documents.append(doc)
        }
        if json {
            printJSON(["runs": documents])
        } else if table.rows.isEmpty {
            print("no runs in \(self.store.db) yet (kbd-sim run --db \(self.store.db) starts one)")
        } else {
            print(table.render())
        }
    }
}

struct RunsShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "A run's configuration, rounds and evaluations.",
        discussion: """
            Example:
              kbd-sim runs show 1 --db runs.sqlite
            """
    )

    @Argument(help: "The run id (kbd-sim runs list shows them).")
    var id: Int64

    @OptionGroup var store: StoreOptions

    @Flag(name: .long, help: "Print one JSON document instead of tables.")
    var json = false

    func run() throws {
        let store = try store.open()
        let run = try store.requireRun(id: id)
        let rounds = try store.rounds(ofRun: id)
        let evaluations = try store.evaluations(ofRun: id)
        let participation = try store.participation(ofRun: id)
        let byRound = Dictionary(grouping: evaluations, by: \.round)
        let stageReports = Dictionary(grouping: try store.stageReports(ofRun: id), by: \.round)
        func epsilon(_ round: Int) -> Double? {
            guard let json = stageReports[round]?.first(where: { $0.stage == "privacy" })?.json,
                let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            else { return nil }
            return object["epsilon"] as? Double
        }
        let isPrivate = rounds.contains { epsilon($0.number) != nil }
        let backdoorByRound = Dictionary(
            (try store.backdoorEvaluations(ofRun: id)).map { ($0.round, $0) }, uniquingKeysWith: { a, _ in a })
        let stored = try? RunConfiguration.decode(json: run.config)
        let perUser = PerUserFigures(
            try store.userEvaluations(ofRun: id),
            threshold: stored?.userThreshold ?? UserAccuracySummary.defaultThreshold)
        let regressions = Dictionary(
            try store.regressions(ofRun: id).map { ($0.round, $0) }, uniquingKeysWith: { a, _ in a })
        func regression(_ round: Int) -> RegressionRecord? { regressions[round] }
        let hasRegressions = !regressions.isEmpty
        if json {
            let config = (try? JSONSerialization.jsonObject(with: Data(run.config.utf8))) ?? run.config
            printJSON([
                "run": id, "created": run.createdAt, "status": run.status.rawValue, "configuration": config,
                "devices participating": participation.count,
                "workers": Self.workers(stageReports.values.flatMap { $0 })?.rows ?? [],
                "rounds": rounds.map { r -> [String: Any] in
                    var row: [String: Any] = [
                        "round": r.number, "virtual start": r.virtualStart, "virtual end": r.virtualEnd,
                        "selected": r.selected,
                        "reported": r.reported, "dropped": r.dropped, "stragglers": r.stragglers, "surplus": r.surplus,
                        "abandoned": r.abandoned, "tokens": r.tokens, "bytes up": r.bytesUp, "bytes down": r.bytesDown,
                        "wall s": r.wallSeconds, "train s": r.trainSeconds, "server s": r.serverSeconds,
                        "model sha256": r.modelSHA256,
                    ]
                    for e in byRound[r.number] ?? [] {
                        let prefix =
                            e.isHeadline ? "" : e.source == .federated ? "federated " : "\(e.split) "
                        row[prefix + "acc@1"] = e.acc1
                        row[prefix + "acc@3"] = e.acc3
                        row[prefix + "acc@1-iv"] = e.acc1iv
                        if let ppl = e.ppl { row[prefix + "ppl"] = ppl }
                    }
                    if let epsilon = epsilon(r.number) { row["epsilon"] = epsilon }
                    // Each stage's monitoring report (norms, clipping, noise, privacy), as stored.
                    var stages: [String: Any] = [:]
                    for report in stageReports[r.number] ?? [] {
                        stages[report.stage] =
                            (try? JSONSerialization.jsonObject(with: Data(report.json.utf8))) ?? report.json
                    }
                    if !stages.isEmpty { row["stages"] = stages }
                    if let b = backdoorByRound[r.number] {
                        row["backdoor@1"] = b.at1
                        row["backdoor@3"] = b.at3
                    }
                    for (key, value) in perUser.figures(round: r.number) { row[key] = value }
                    if let g = regression(r.number) {
                        row["regression"] = true
                        row["best round"] = g.bestRound
                        if let to = g.rolledBackTo { row["rolled back to"] = to }
                    }
                    return row
                },
            ])
            return
        }
        print(
            "run \(id): \(run.status.rawValue), created \(run.createdAt); \(run.model) on \(run.corpus), codec \(run.codec), seed \(run.seed)"
        )
        print("\(rounds.count) rounds committed, \(grouped(participation.count)) devices took part\n")
        var table = SummaryTable(
            columns: [
                "round", "selected", "reported", "dropped", "stragglers", "abandoned", "tokens", "MB up", "wall s",
                "acc@1", "acc@3", "acc@1-iv", "ppl",
            ] + (isPrivate ? ["epsilon"] : []) + (backdoorByRound.isEmpty ? [] : ["backdoor@1", "backdoor@3"])
                + (perUser.isEmpty ? [] : ["user p10", "worst 10%"])
                + (perUser.personalizes ? ["personalized", "users hurt"] : []) + (hasRegressions ? ["regression"] : []))
        for r in rounds {
            let e = byRound[r.number]?.first(where: \.isHeadline)
            var cells: [String] = [
                String(r.number), String(r.selected), String(r.reported), String(r.dropped), String(r.stragglers),
                r.abandoned ? "yes" : "no", grouped(Int(r.tokens)), fixed(Double(r.bytesUp) / 1e6, digits: 2),
                fixed(r.wallSeconds, digits: 2),
            ]
            cells += [e.map { fixed($0.acc1) } ?? "", e.map { fixed($0.acc3) } ?? "", e.map { fixed($0.acc1iv) } ?? ""]
            cells.append(e?.ppl.map { fixed($0, digits: 1) } ?? "")
            if isPrivate { cells.append(epsilon(r.number).map { fixed($0, digits: 3) } ?? "") }
            if !backdoorByRound.isEmpty {
                let b = backdoorByRound[r.number]
                cells += [b.map { fixed($0.at1) } ?? "", b.map { fixed($0.at3) } ?? ""]
            }
            let figures = perUser.figures(round: r.number)
            if !perUser.isEmpty {
                cells += [
                    figures["user p10 acc@1"].map { fixed($0) } ?? "",
                    figures["worst decile acc@1"].map { fixed($0) } ?? "",
                ]
            }
            if perUser.personalizes {
                cells += [
                    figures["personalized acc@1"].map { fixed($0) } ?? "",
                    figures["users hurt"].map { fixed(100 * $0, digits: 1) + "%" } ?? "",
                ]
            }
            if hasRegressions {
                let g = regression(r.number)
                cells.append(g.map { $0.rolledBackTo.map { "rolled back to \($0)" } ?? "flagged" } ?? "")
            }
            table.append(cells)
        }
        print(table.render())
        if let workers = Self.workerTable(stageReports.values.flatMap { $0 }) { print("\n" + workers) }
        if isPrivate,
            let json = stageReports.values.flatMap({ $0 }).filter({ $0.stage == "privacy" }).max(by: {
                $0.round < $1.round
            })?.json,
            let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        {
            print("\nprivacy after round \(rounds.last?.number ?? 0): \(object["assumption"] as? String ?? "")")
        }
        print("\nconfiguration:\n\(run.config)")
    }
}

extension RunsShowCommand {
    /// The run's workers over its committed sharded rounds (the rounds' `workers` reports):
    /// one row per worker with the table's keys, the rounds and the re-leases; nil when no
    /// round was trained on workers.
    static func workers(_ reports: [StageReportRecord]) -> (rows: [[String: Any]], rounds: Int, releases: Int)? {
        var totals: [String: WorkerThroughput] = [:]
        var releases = 0
        var rounds = 0
        for record in reports where record.stage == "workers" {
            guard let report = try? JSONDecoder().decode(WorkersReport.self, from: Data(record.json.utf8)) else {
                continue
            }
            rounds += 1
            releases += report.releases
            for (worker, t) in report.workers { totals[worker, default: WorkerThroughput()] += t }
        }
        guard !totals.isEmpty else { return nil }
        let rows = totals.sorted(by: { $0.key < $1.key }).map { worker, t -> [String: Any] in
            let wall = t.leaseSeconds
            var row: [String: Any] = [
                "worker": worker, "shards": t.shards, "phones": t.phones, "tokens": t.tokens,
                "train s": t.trainSeconds, "lease s": wall, "MB in": Double(t.partialBytes) / 1e6,
            ]
            if wall > 0 {
                row["phones/s"] = Double(t.phones) / wall
                row["tokens/s"] = Double(t.tokens) / wall
            }
            if t.shards > 0 { row["s/lease"] = wall / Double(t.shards) }
            return row
        }
        return (rows, rounds, releases)
    }

    /// ``workers(_:)`` as a table.
    static func workerTable(_ reports: [StageReportRecord]) -> String? {
        guard let (rows, rounds, releases) = workers(reports) else { return nil }
        let columns = [
            "worker", "shards", "phones", "tokens", "train s", "lease s", "phones/s", "tokens/s", "s/lease", "MB in",
        ]
        var table = SummaryTable(columns: columns)
        for row in rows {
            table.append(
                columns.map { key in
                    switch row[key] {
                    case let text as String: text
                    case let count as Int: grouped(count)
                    case let value as Double where key == "tokens/s": grouped(Int(value.rounded()))
                    case let value as Double: fixed(value, digits: 2)
                    default: ""
                    }
                })
        }
        return
            "workers over \(rounds) sharded rounds (lease s: from each lease to its accepted partial; \(releases) leases expired or given back and went to another worker):\n"
            + table.render()
    }
}

/// `kbd-sim runs branch`: a new run from an earlier committed round of a stored one.
struct RunsBranchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "branch",
        abstract: "Start a new run from a committed round of a stored run, with the same or other settings.",
        discussion: """
            The new run gets its own id and keeps its lineage (the run and round it came from). It \
            holds the old run's rounds 1…R and round R's checkpoint (model and server-optimizer \
            state); `kbd-sim run --resume NEW` runs its rounds R+1…. With no setting changed those \
            rounds are the old run's, bit for bit. Settings that define the model and the fleet \
            (corpus, split, vocabulary, model, devices) cannot change. The round needs a kept \
            checkpoint: the newest, the best evaluated one, or every N-th with --checkpoint-every N.

            Examples:
              kbd-sim runs branch 3 --from-round 40 --db runs.sqlite
              kbd-sim runs branch 3 --from-round 40 --rounds 200 --client-lr 0.3 --rollback-on-regression --db runs.sqlite
              kbd-sim runs branch 3 --from-round 99 --rounds 100 --personalize --personalize-lr 0.3 --db runs.sqlite
            """
    )

    @Argument(help: "The run to branch (kbd-sim runs list shows them).")
    var id: Int64

    @Option(name: .long, help: "The committed round the new run starts after.")
    var fromRound: Int

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "Total rounds of the new run (default: the old run's).")
    var rounds: Int?

    @Option(name: .long, help: "Client learning rate.")
    var clientLr: Float?

    @Option(name: .long, help: "Local epochs per round (E).")
    var localEpochs: Int?

    @Option(name: .long, help: "Local minibatch size in messages (B).")
    var batch: Int?

    @Option(
        name: .long, help: ArgumentHelp("Server optimizer, as for kbd-sim run.", valueName: "optimizer"),
        transform: { try ParsedSetting.parse($0, flag: "--server-opt") })
    var serverOpt: ParsedSetting<ServerOptimizerSpec>?

    @Option(name: .long, help: "Evaluate every N rounds.")
    var evalEvery: Int?

    @Option(name: .long, help: "Keep a checkpoint every N rounds besides the newest.")
    var checkpointEvery: Int?

    @Option(name: .customLong("fedprox-mu"), help: "FedProx's proximal weight μ (0: FedAvg).")
    var fedproxMu: Float?

    @Option(name: .long, help: "The acc@1 drop below the best round that counts as a regression.")
    var regressionThreshold: Double?

    @Flag(name: .long, help: "On a regression, restore the best round's checkpoint and go on.")
    var rollbackOnRegression = false

    @Flag(name: .long, help: "Personalize at every evaluation (as kbd-sim run --personalize).")
    var personalize = false

    @Option(name: .long, help: "Personalization: local epochs of fine-tuning.")
    var personalizeEpochs: Int?

    @Option(name: .long, help: "Personalization: the fine-tuning SGD learning rate (> 0).")
    var personalizeLr: Float?

    @Option(name: .long, help: "Personalization: the fine-tuning minibatch size in messages.")
    var personalizeBatch: Int?

    @Option(name: .long, help: "Personalization of an n-gram model: λ in [0, 1], or auto.")
    var userLambda: String?

    @Flag(name: .long, help: "Print one JSON document instead of a sentence.")
    var json = false

    func run() throws {
        do {
            try branch()
        } catch let error as FederationError {
            throw ValidationError(error.message)
        } catch let error as RunStoreError {
            throw ValidationError(error.message)
        }
    }

    private func branch() throws {
        let store = try store.open()
        let parent = try store.requireRun(id: id)
        var c = try RunConfiguration.decode(json: parent.config)
        if let rounds { c.rounds = rounds }
        if let clientLr { c.client.learningRate = clientLr }
        if let localEpochs { c.client.epochs = localEpochs }
        if let batch { c.client.batchSize = batch }
        if let serverOpt { c.serverOptimizer = serverOpt }
        if let evalEvery { c.evalEvery = evalEvery }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        if let fedproxMu { c.client.proximalMu = fedproxMu == 0 ? nil : fedproxMu }
        if personalize || personalizeEpochs != nil || personalizeLr != nil || personalizeBatch != nil
            || userLambda != nil
        {
            var p = c.personalization ?? PersonalizationConfiguration()
            if let personalizeEpochs { p.epochs = personalizeEpochs }
            if let personalizeLr { p.learningRate = personalizeLr }
            if let personalizeBatch { p.batchSize = personalizeBatch }
            if let userLambda {
                guard userLambda == "auto" || Double(userLambda) != nil else {
                    throw ValidationError("--user-lambda must be a number in [0, 1] or auto (got '\(userLambda)')")
                }
                p.lambda = Double(userLambda)
            }
            c.personalization = p
        }
        if regressionThreshold != nil || rollbackOnRegression {
            c.regressionGuard = RegressionGuard(
                threshold: regressionThreshold ?? c.regressionGuard?.threshold ?? RegressionGuard.defaultThreshold,
                rollback: rollbackOnRegression)
        }
        let server = AggregationServer(store: store)
        let branch = try server.branchRun(from: id, round: fromRound, configuration: c)
        if json {
            printJSON(["run": branch, "branched from": id, "from round": fromRound, "rounds": c.rounds])
        } else {
            print(
                "run \(branch) branched from run \(id) after round \(fromRound); continue it with: kbd-sim run --resume \(branch) --db \(self.store.db)"
            )
        }
    }
}

/// Per-user figures of a stored run by round: the distribution over its evaluation users, and
/// personalization's gain, from the per-user counts the store keeps.
struct PerUserFigures {
    private var byRound: [Int: [String: [UserScore]]] = [:]
    let threshold: Double

    init(_ records: [UserEvaluationRecord], threshold: Double) {
        self.threshold = threshold
        for r in records {
            byRound[r.round, default: [:]][r.split, default: []].append(
                UserScore(user: Int(r.user), predictions: r.predictions, hitsAt1: r.hits1, hitsAt3: r.hits3))
        }
    }

    var isEmpty: Bool { byRound.isEmpty }
    var personalizes: Bool { byRound.values.contains { $0["personalized"] != nil } }

    /// The round's figures under the keys of `kbd-sim run --json`.
    func figures(round: Int) -> [String: Double] {
        guard let splits = byRound[round] else { return [:] }
        var out: [String: Double] = [:]
        if let headline = splits["users"] ?? splits["per-user"],
            let u = UserAccuracySummary(headline, threshold: threshold)
        {
            out.merge(u.dictionary) { a, _ in a }
        }
        if let f = splits["devices"], let u = UserAccuracySummary(f, threshold: threshold) {
            for (k, v) in u.dictionary { out["federated " + k] = v }
        }
        if let g = splits["personal-global"], let p = splits["personalized"] {
            func pooled(_ s: [UserScore]) -> NextWordMetrics {
                var m = NextWordMetrics()
                for u in s {
                    m.predictions += u.predictions
                    m.hitsAt1 += u.hitsAt1
                    m.hitsAt3 += u.hitsAt3
                }
                return m
            }
            let result = PersonalizationResult(
                global: pooled(g), personalized: pooled(p), globalUsers: g, personalizedUsers: p, lambda: nil)
            out.merge(result.dictionary) { a, _ in a }
        }
        return out
    }
}
