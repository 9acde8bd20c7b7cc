import ArgumentParser
import Dispatch
import Federation
internal import Foundation
import KeyboardCorpus
import LanguageModels
import RunStore
import Fleet

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
            the same result as an uninterrupted run.

            Examples:
              kbd-sim run --corpus synthetic --devices 100000 --cohort 50 --rounds 100 --model cifg-small --codec rot,q8s,z1
              kbd-sim run --corpus ../shared/corpora/nus-sms/smsCorpus_en_xml_2015.03.09_all.zip --model kn3 --cohort 20 --rounds 30
              kbd-sim run --resume 3 --db runs.sqlite
              kbd-sim run --server http://127.0.0.1:8080 --corpus synthetic --rounds 20
            """
    )

    @Option(name: .long, help: ArgumentHelp("A corpus file or folder (NUS SMS zip/XML, .txt, .tsv, .jsonl), or synthetic[:SPEC].", valueName: "path"))
    var corpus: String = "synthetic"

    @Option(name: .long, help: "Force the corpus format instead of detecting it: \(CorpusFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: CorpusFormat?

    @Option(name: .long, help: "Vocabulary size V: the V most frequent training tokens.")
    var vocab: Int = 10_000

    @Option(name: .long, help: ArgumentHelp("cifg-small, cifg-gboard, lstm-tiny, a model config file, or kn1…kn5 (federated n-gram counts).", valueName: "model"))
    var model: String = "cifg-small"

    @Option(name: .long, help: "Virtual phones in the fleet (default: 100000; for a file corpus, its number of training users).")
    var devices: Int?

    @Option(name: .long, help: "Reports wanted per round (K).")
    var cohort: Int = 50

    @Option(name: .long, help: "Rounds to run.")
    var rounds: Int = 100

    @Option(name: .long, help: "Devices selected per wanted report (1.3 = 130%).")
    var overSelection: Double = 1.3

    @Option(name: .long, help: "Reporting deadline in virtual seconds.")
    var deadline: Int = 600

    @Option(name: .long, help: "A round with fewer than this fraction of K reports is abandoned.")
    var minReportFraction: Double = 0.8

    @Option(name: .long, help: "Virtual seconds from one round's start to the next at the least (0: back to back); small fleets need spaced rounds to reach every time zone.")
    var roundInterval: Int = 0

    @Option(name: .long, help: "Days of recent text a device trains on (synthetic corpora).")
    var trainingDays: Int = 7

    @Option(name: .long, help: "Local epochs per round (E).")
    var localEpochs: Int = 1

    @Option(name: .long, help: "Local minibatch size in messages (B).")
    var batch: Int = 16

    @Option(name: .long, help: "On-device optimizer: sgd, or adam (its moments start afresh every round).")
    var clientOpt: String = "sgd"

    @Option(name: .long, help: "Client learning rate.")
    var clientLr: Float = 0.5

    @Option(name: .long, help: "Client global-norm gradient clip.")
    var clientClip: Float = 5

    @Option(name: .long, help: ArgumentHelp("Server optimizer: fedavg, fedavgm, fedadam, fedyogi, with :key=value options (e.g. fedadam:lr=0.01,tau=0.001).", valueName: "optimizer"))
    var serverOpt: String = "fedavg"

    @Option(name: .long, help: ArgumentHelp("Update codec scheme, e.g. f32, q8s,z6, rot,q4s,z1 (kbd-sim codec bench --help).", valueName: "scheme"))
    var codec: String = "rot,q8s,z1"

    @Option(name: .long, help: "Evaluate on the evaluation users every N rounds (0: only after the last round).")
    var evalEvery: Int = 10

    @Flag(name: .long, help: "Devices also evaluate the downloaded model on their own text (federated evaluation).")
    var federatedEval = false

    @Option(name: .long, help: "Keep a checkpoint every N rounds besides the newest (0: only the newest).")
    var checkpointEvery: Int = 0

    @Flag(name: .long, inversion: .prefixedNo, help: "Start the output bias at a Zipf prior over vocabulary ranks.")
    var zipfBias = true

    @Option(name: .long, help: "Seed of the fleet, selection, training and codec.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "The SQLite run store.")
    var db: String = "runs.sqlite"

    @Option(name: .long, help: ArgumentHelp("Continue this run from its last committed round (its stored configuration is used).", valueName: "run-id"))
    var resume: Int64?

    @Option(name: .long, help: ArgumentHelp("Run against a kbd-sim server over HTTP instead of in-process.", valueName: "url"))
    var server: String?

    @Option(name: .long, help: "Worker threads for the devices' local training (default: all cores).")
    var workers: Int?

    @Option(name: .long, help: ArgumentHelp("Write each round's cohort (messages, weights) as JSON for tools/bench_fedavg.py.", valueName: "file"))
    var exportWorkload: String?

    @Flag(name: .long, help: "Read the corpus source again instead of the tokenized-corpus cache.")
    var noCache = false

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    func validate() throws {
        if let workers, !(1...64).contains(workers) { throw ValidationError("--workers must be in 1…64 (got \(workers))") }
        if resume != nil, server == nil, !FileManager.default.fileExists(atPath: db) {
            throw ValidationError("--resume needs the store the run is in; \(db) does not exist (pass --db)")
        }
    }

    /// The run configuration from the flags.
    func runConfiguration() throws -> RunConfiguration {
        var c = RunConfiguration()
        c.corpus = corpus
        c.format = format?.rawValue
        c.vocabularySize = vocab
        c.modelName = model
        if let order = Self.ngramOrder(model) {
            c.model = .ngram(order: order)
        } else {
            var config = try resolveModelConfig(model)
            config.vocabularySize = vocab + 4
            do { try config.validate() } catch { throw ValidationError("--model \(model): \(error)") }
            c.model = .neural(config)
        }
        c.zipfBias = zipfBias
        c.devices = devices ?? 100_000
        c.cohort = cohort
        c.rounds = rounds
        c.overSelection = overSelection
        c.reportingDeadline = deadline
        c.minimumReportFraction = minReportFraction
        c.trainingDays = trainingDays
        c.roundInterval = roundInterval
        c.localEpochs = localEpochs
        c.batchSize = batch
        c.clientOptimizer = clientOpt
        c.clientLearningRate = clientLr
        c.clientClipNorm = clientClip
        c.serverOptimizer = serverOpt
        c.codec = codec
        c.evalEvery = evalEvery
        c.federatedEval = federatedEval
        c.checkpointEvery = checkpointEvery
        c.seed = seed
        do { try c.validate() } catch { throw ValidationError(error.message) }
        return c
    }

    static func ngramOrder(_ model: String) -> Int? {
        guard model.hasPrefix("kn"), let n = Int(model.dropFirst(2)) else { return nil }
        return n
    }

    func run() async throws {
        var configuration: RunConfiguration?
        if resume == nil { configuration = try runConfiguration() }
        let loader = CorpusLoader(usesCache: !noCache)

        // The fleet's text (and, in-process, the server's evaluation side: loaded once).
        let datasetConfiguration: RunConfiguration
        if let configuration {
            datasetConfiguration = configuration
        } else {
            datasetConfiguration = try storedConfiguration(run: resume!)
        }
        let t0 = now()
        let dataset = try FederatedDataset(configuration: datasetConfiguration, loader: loader)
        if var c = configuration, devices == nil, let users = dataset.trainingUserCount {
            c.devices = users  // one phone per training user of a file corpus
            configuration = c
        }
        if let c = configuration { try checkCohortFits(c) }
        if !json { status("corpus ready in \(fixed(now() - t0, digits: 1)) s: \(grouped(dataset.evalMessages.count)) evaluation messages, V = \(grouped(dataset.vocabulary.count - 4))") }

        let transport: any ServerTransport
        if let server {
            transport = try HTTPTransport(baseURL: server)
        } else {
            let store = try RunStore.open(path: db)
            let shared = dataset
            transport = InProcessTransport(server: AggregationServer(store: store, loadDataset: { _ in shared }))
        }
        let runner = FederatedRunner(transport: transport, dataset: dataset)
        if let workers { runner.workers = workers }
        let workload = exportWorkload.map { _ in WorkloadRecorder() }
        if let workload {
            runner.onCohort = { round, messages, weights in workload.record(round: round, messages: messages, weights: weights) }
        }
        let progress = ProgressLine(plainInterval: 0)
        let quiet = json
        let rows = RowCollector()
        runner.onRound = { p in
            rows.append(p)
            guard !quiet else { return }
            progress.finish(Self.progressLine(p))
        }
        let interrupts = InterruptHandler { runner.requestStop() }
        defer { interrupts.cancel() }

        let outcome = try await runner.run(configuration: configuration, resume: resume)
        if let workload, let path = exportWorkload {
            try workload.write(to: path, configuration: outcome.attachment.configuration)
        }
        try report(outcome, rounds: rows.all)
    }

    private func storedConfiguration(run id: Int64) throws -> RunConfiguration {
        if server != nil {
            throw ValidationError("--resume with --server: resume the run on the server's host (kbd-sim run --resume \(id) --db THE_SERVER_DB)")
        }
        let store = try RunStore.open(path: db)
        return try RunConfiguration.decode(json: try store.requireRun(id: id).config)
    }

    private func checkCohortFits(_ c: RunConfiguration) throws {
        let selection = Int((Double(c.cohort) * c.overSelection).rounded(.up))
        if selection > c.devices {
            throw ValidationError("a cohort of \(c.cohort) with \(Int(c.overSelection * 100))% over-selection selects \(selection) devices, more than the fleet of \(c.devices); lower --cohort or raise --devices")
        }
    }

    static func progressLine(_ p: RoundProgress) -> String {
        var line = "round \(p.round)/\(p.totalRounds)  \(virtualClock(p.summary.virtualEnd))  reported \(p.summary.reported)/\(p.outcome.selected.count)"
        if p.summary.abandoned { line += " (abandoned)" }
        line += "  up \(fixed(Double(p.cumulativeBytesUp) / 1e6, digits: 1)) MB"
        if let e = p.summary.evaluation { line += "  acc@1 \(fixed(e.accuracyAt1))  acc@3 \(fixed(e.accuracyAt3))" }
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

    private func report(_ outcome: FederatedRunner.Outcome, rounds: [RoundProgress]) throws {
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
                    "train s": p.trainSeconds, "eval s": p.summary.evaluationSeconds, "wall s": p.fleetSeconds + p.summary.serverSeconds, "model sha256": p.summary.modelSHA256,
                ]
                if let e = p.summary.evaluation {
                    row["acc@1"] = e.accuracyAt1
                    row["acc@3"] = e.accuracyAt3
                    row["acc@1-iv"] = e.accuracyAt1InVocabulary
                    if e.perplexity.isFinite { row["ppl"] = e.perplexity }
                }
                if let f = p.summary.federatedEvaluation {
                    row["federated acc@1"] = f.accuracyAt1
                    row["federated acc@3"] = f.accuracyAt3
                }
                return row
            }
            var summary: [String: Any] = [
                "run": outcome.attachment.runID, "finished": outcome.finished, "model": c.modelLabel, "corpus": c.corpus,
                "codec": c.codec, "server optimizer": c.serverOptimizer, "rounds": rounds.count, "reported": reported,
                "MB up": Double(bytesUp) / 1e6, "MB down": Double(bytesDown) / 1e6, "wall s": wall,
                "transport": server ?? "in-process",
            ]
            if let last {
                summary["acc@1"] = last.accuracyAt1
                summary["acc@3"] = last.accuracyAt3
                summary["acc@1-iv"] = last.accuracyAt1InVocabulary
                if last.perplexity.isFinite { summary["ppl"] = last.perplexity }
            }
            if let sha = rounds.last?.summary.modelSHA256 { summary["model sha256"] = sha }
            printJSON(["run": outcome.attachment.runID, "rounds": perRound, "summary": summary])
            return
        }
        var table = SummaryTable(columns: ["round", "virtual time", "reported", "dropped", "stragglers", "MB up", "acc@1", "acc@3", "acc@1-iv", "ppl"])
        for p in evaluated {
            let e = p.summary.evaluation!
            table.append([
                String(p.round), Self.virtualClock(p.summary.virtualEnd), String(p.summary.reported),
                String(p.outcome.dropped.count + p.failedDevices), String(p.outcome.stragglers.count),
                fixed(Double(p.cumulativeBytesUp) / 1e6, digits: 1), fixed(e.accuracyAt1), fixed(e.accuracyAt3),
                fixed(e.accuracyAt1InVocabulary), e.perplexity.isFinite ? fixed(e.perplexity, digits: 1) : "-",
            ])
        }
        if !table.rows.isEmpty { print(table.render()) }
        let state = outcome.finished ? "finished" : "stopped (resume with: kbd-sim run --resume \(outcome.attachment.runID) --db \(db))"
        print("""

            run \(outcome.attachment.runID) \(state): \(c.modelLabel) on \(c.corpus), \(rounds.count) rounds here, \(grouped(reported)) reports, \
            \(fixed(Double(bytesUp) / 1e6, digits: 1)) MB up, \(fixed(Double(bytesDown) / 1e6, digits: 1)) MB down, \(fixed(wall, digits: 1)) s wall
            """)
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

/// Turns the first Ctrl-C into a request to stop at the next safe point and the second into
/// an immediate exit (the store is consistent either way: rounds commit atomically).
final class InterruptHandler: @unchecked Sendable {
    private let source: any DispatchSourceSignal
    private var count = 0

    init(onFirst: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in
            count += 1
            if count == 1 {
                status("\ninterrupted: stopping before the next commit point; the store keeps every committed round (Ctrl-C again to quit now)")
                onFirst()
            } else {
                exit(130)
            }
        }
        source.resume()
    }

    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
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
        guard case .neural(let config) = c.model else {
            throw ValidationError("--export-workload needs a neural model (the PyTorch loop trains the LSTM)")
        }
        let model = try JSONSerialization.jsonObject(with: config.encodedJSON())
        lock.lock()
        let document: [String: Any] = [
            "model": model, "epochs": c.localEpochs, "batch": c.batchSize, "lr": Double(c.clientLearningRate),
            "maxLength": c.maxMessageLength, "clip": Double(c.clientClipNorm), "rounds": rounds,
        ]
        lock.unlock()
        let data = try JSONSerialization.data(withJSONObject: document)
        try data.write(to: URL(fileURLWithPath: path))
    }
}
