import Aggregation
import FederatedCore
public import Federation
public import FederationProtocol
import Foundation
import KeyboardCorpus
import LanguageModelTypes
public import RunStore
import UpdateCodec

/// The cross-device aggregation server: one component behind both transports.
///
/// It owns the runs' global models and the run store. A fleet coordinator attaches to a run
/// (``createRun(_:)`` or ``resumeRun(id:)``), opens each round with the devices it selected
/// (``openRound(run:_:)``); those devices check in (``checkIn(run:round:device:)``), download
/// the model (``model(run:round:)``) and upload their update (``upload(run:round:device:bytes:extras:)``);
/// ``closeRound(run:_:)`` aggregates what arrived, applies the server optimizer, evaluates,
/// and commits the round, its evaluation and a checkpoint to SQLite in one transaction.
///
/// Every request is validated; a bad one is refused with a ``ServerRejection`` (a stable
/// reason and a sentence; the HTTP edge maps the reason to a status) and changes nothing, so
/// the round goes on. Uploads are idempotent
/// per (run, round, device): the same bytes again are acknowledged and not counted twice.
/// Aggregation order is the order uploads arrive in (the fleet uploads in virtual arrival
/// order), which makes runs bit-reproducible over either transport.
public final class AggregationServer: @unchecked Sendable {
    /// The store every round is committed to.
    public let store: RunStore
    private let lock = NSLock()
    private var runs: [Int64: ActiveRun] = [:]
    var counters = ServerCounters()
    /// Scale-out: live and past leases → their run; the next lease id; per-worker throughput
    /// over every run (docs/scale-out.md).
    var leaseRuns: [Int64: Int64] = [:]
    var nextLease: Int64 = 1
    var workerTotals: [String: WorkerThroughput] = [:]
    private let loadDataset: @Sendable (RunConfiguration) throws -> FederatedDataset
    /// Which corpora runs may name; nil: any (an in-process server of the user's own runs).
    public let corpusPolicy: CorpusAccessPolicy?

    /// Creates a server over `store`.
    ///
    /// - Parameters:
    ///   - corpusPolicy: the corpora runs may name (a server for remote clients needs one);
    ///     nil: any path this process can read.
    ///   - loadDataset: loads a run's corpus (the server evaluates on its evaluation
    ///     users); the default reads it with the tokenized-corpus cache.
    public init(
        store: RunStore, corpusPolicy: CorpusAccessPolicy? = nil,
        loadDataset: @escaping @Sendable (RunConfiguration) throws -> FederatedDataset = {
            try FederatedDataset(configuration: $0)
        }
    ) {
        self.store = store
        self.corpusPolicy = corpusPolicy
        self.loadDataset = loadDataset
    }

    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    func active(_ run: Int64) throws(ServerRejection) -> ActiveRun {
        guard let r = withLock({ runs[run] }) else {
            throw ServerRejection(
                .unknownRun,
                "run \(run) is not active on this server; attach with POST /v1/runs or /v1/runs/\(run)/resume")
        }
        return r
    }

    /// The attached runs, by id.
    var activeRuns: [ActiveRun] { withLock { runs.values.sorted { $0.id < $1.id } } }

    // MARK: - Runs

    /// Records a new run and initialises its global model.
    public func createRun(_ configuration: RunConfiguration) throws -> RunAttachment {
        try corpusPolicy?.check(configuration.corpus)
        try configuration.validate()
        let dataset = try loadDataset(configuration)
        let model = try configuration.makeGlobalModel(vocabulary: dataset.vocabulary)
        _ = try Backdoor(configuration: configuration, vocabulary: dataset.vocabulary)  // before anything is stored
        let start =
            configuration.evaluateStart == true ? try model.evaluate(on: dataset.evalMessages) : nil
        let record = try store.createRun(
            RunRecord(
                createdAt: ISO8601DateFormatter().string(from: Date()), corpus: configuration.corpus,
                model: configuration.modelLabel, codec: configuration.codec.text,
                seed: Int64(bitPattern: configuration.seed), config: configuration.encodedJSON()))
        let id = record.id!
        let run = ActiveRun(
            id: id, configuration: configuration, dataset: dataset, model: model, version: 0,
            virtualTime: configuration.startTime)
        withLock { runs[id] = run }
        var attachment = run.attachment
        attachment.startEvaluation = start
        return attachment
    }

    /// Re-attaches to a stored run from its last committed round (after a crash, `kill -9`
    /// or Ctrl-C): the global model and optimizer state come from its newest checkpoint.
    public func resumeRun(id: Int64) throws -> RunAttachment {
        if let run = withLock({ runs[id] }) {
            return run.withLock { run.attachment }
        }
        let record = try store.requireRun(id: id)
        guard record.status != .finished else {
            throw FederationError(
                .cannotResume,
                "run \(id) has finished all its rounds; start a new run instead (kbd-sim runs show \(id))")
        }
        let configuration = try RunConfiguration.decode(json: record.config)
        try corpusPolicy?.check(configuration.corpus)
        let dataset = try loadDataset(configuration)
        let last = try store.lastCommittedRound(ofRun: id)
        var model = try configuration.makeGlobalModel(vocabulary: dataset.vocabulary)
        var virtualTime = configuration.startTime
        if last > 0 {
            guard let checkpoint = try store.latestCheckpoint(ofRun: id), checkpoint.round == last,
                let data = checkpoint.data
            else {
                throw FederationError(
                    .badCheckpoint,
                    "run \(id): round \(last) is committed but its checkpoint is missing; the run cannot continue exactly"
                )
            }
            let restored = try ServerCheckpoint.decode([UInt8](data), into: model)
            guard restored.round == last else {
                throw FederationError(
                    .badCheckpoint, "run \(id): the checkpoint says round \(restored.round), the store \(last)")
            }
            model = restored.model
            virtualTime = restored.virtualTime
        }
        try store.setStatus(.running, ofRun: id)
        let ledger = ParticipationLedger(
            try store.participationHistory(ofRun: id).map {
                ParticipationLedger.Entry(
                    device: UInt32(truncatingIfNeeded: $0.device), count: $0.rounds, lastRound: $0.lastRound)
            })
        let run = ActiveRun(
            id: id, configuration: configuration, dataset: dataset, model: model, version: last,
            virtualTime: virtualTime, ledger: ledger, best: try bestRound(ofRun: id))
        withLock { runs[id] = run }
        return run.attachment
    }

    /// Starts a new run from run `parent`'s committed round `round` (`kbd-sim runs branch`):
    /// the new run holds the parent's rounds 1…R and round R's checkpoint, its configuration is
    /// `configuration` (the parent's, with the settings the user changed) and names its
    /// lineage; resuming it runs rounds R+1… With the parent's settings unchanged, those rounds
    /// are the parent's, bit for bit.
    ///
    /// - Throws: ``FederationError`` for a configuration that changes what the checkpoint
    ///   holds (corpus, split, vocabulary, model) or is invalid; ``RunStoreError`` for an
    ///   unknown run or round, or a round whose checkpoint was not kept. Nothing is stored then.
    public func branchRun(from parent: Int64, round: Int, configuration: RunConfiguration) throws -> Int64 {
        let record = try store.requireRun(id: parent)
        let original = try RunConfiguration.decode(json: record.config)
        for (flag, same) in [
            ("--corpus", original.corpus == configuration.corpus),
            ("--format", original.format == configuration.format),
            ("--split", original.splitKind == configuration.splitKind),
            ("--vocab", original.vocabularySize == configuration.vocabularySize),
            ("--model", original.model == configuration.model && original.modelName == configuration.modelName),
            ("--devices", original.devices == configuration.devices),
        ] where !same {
            throw FederationError(
                .invalidConfiguration,
                "a branch continues run \(parent)'s model and fleet, so \(flag) cannot change; start a new run for that"
            )
        }
        try store.requireBranchPoint(ofRun: parent, round: round)
        var configuration = configuration
        configuration.branchedFrom = RunLineage(run: parent, round: round)
        guard round <= configuration.rounds else {
            throw FederationError(
                .invalidConfiguration,
                "--rounds \(configuration.rounds) ends before the branch point, round \(round); give more rounds")
        }
        try corpusPolicy?.check(configuration.corpus)
        try configuration.validate()
        if let data = try store.checkpoint(ofRun: parent, round: round)?.data {
            // The new settings must be able to continue from the checkpoint (stage state included).
            let dataset = try loadDataset(configuration)
            _ = try ServerCheckpoint.decode(
                [UInt8](data), into: try configuration.makeGlobalModel(vocabulary: dataset.vocabulary))
        }
        let branch = try store.branchRun(
            from: parent, round: round,
            as: RunRecord(
                createdAt: ISO8601DateFormatter().string(from: Date()), status: .interrupted,
                corpus: configuration.corpus, model: configuration.modelLabel, codec: configuration.codec.text,
                seed: Int64(bitPattern: configuration.seed), config: configuration.encodedJSON()))
        return branch.id!
    }

    /// The best evaluated round of a stored run (the earliest on a tie) and its checkpoint,
    /// which the store keeps for the regression guard; nil before any evaluation.
    func bestRound(ofRun id: Int64) throws -> BestRound? {
        var best: EvaluationRecord?
        for e in try store.evaluations(ofRun: id) where e.isHeadline && e.acc1 > (best?.acc1 ?? -1) { best = e }
        guard let best, let data = try store.checkpoint(ofRun: id, round: best.round)?.data else { return nil }
        return BestRound(round: best.round, accuracyAt1: best.acc1, checkpoint: [UInt8](data))
    }

    /// Marks a run finished (all rounds done) or interrupted, and detaches it.
    public func finishRun(_ id: Int64, status: RunRecord.Status) throws {
        _ = try store.requireRun(id: id)
        try store.setStatus(status, ofRun: id)
        _ = withLock { runs.removeValue(forKey: id) }
    }

    // MARK: - Rounds

    /// Opens round `opening.round` for the devices the fleet selected.
    public func openRound(run id: Int64, _ opening: RoundOpening) throws(ServerRejection) {
        let run = try active(id)
        try run.withLock { () throws(ServerRejection) in
            if let open = run.open {
                guard open.opening == opening else {
                    throw ServerRejection(
                        .roundAlreadyOpen, "round \(open.opening.round) is open; close it before opening another")
                }
                return  // an idempotent retry of the same opening
            }
            guard opening.round == run.version + 1 else {
                throw ServerRejection(
                    .wrongRound, "the next round of run \(id) is \(run.version + 1), not \(opening.round)")
            }
            // A round may select nobody (no phone of a small fleet is eligible at that hour): it
            // opens, takes no uploads and is abandoned at its close, so the run goes on.
            guard opening.deadline >= opening.virtualStart else {
                throw ServerRejection(.badRequest, "a round needs a deadline after its start")
            }
            guard opening.selected.allSatisfy({ Int($0) < run.configuration.devices }) else {
                throw ServerRejection(
                    .badRequest, "selected device ids must be below the fleet size \(run.configuration.devices)")
            }
            try run.checkLimits(opening)
            run.open = OpenRound(opening: opening, run: run)
        }
    }

    /// A selected device checks in and receives the round's training plan.
    public func checkIn(run id: Int64, round: Int, device: Int) throws(ServerRejection) -> TrainingPlan {
        let run = try active(id)
        return try run.withLock { () throws(ServerRejection) -> TrainingPlan in
            let open = try run.requireOpen(round: round)
            guard device >= 0, device <= Int(UInt32.max), open.selected.contains(UInt32(device)) else {
                throw ServerRejection(
                    .unknownDevice, "device \(device) was not selected for round \(round) of run \(id)")
            }
            let c = run.configuration
            var plan = TrainingPlan(
                runID: id, round: round, modelVersion: run.version, modelBytes: run.downloadBytes().count,
                codec: c.codec, client: c.client, deadline: open.opening.deadline, federatedEval: c.federatedEval)
            plan.secureAggregation = run.secureAggregationGrid
            run.model.completePlan(&plan, device: UInt32(device))
            return plan
        }
    }

    /// The current global model's bytes for round `round`.
    public func model(run id: Int64, round: Int) throws(ServerRejection) -> [UInt8] {
        let run = try active(id)
        return try run.withLock { () throws(ServerRejection) -> [UInt8] in
            _ = try run.requireOpen(round: round)
            return run.downloadBytes()
        }
    }

    /// Receives one device's update for `round`.
    public func upload(run id: Int64, round: Int, device: Int, bytes: [UInt8], extras: UploadExtras)
        throws(ServerRejection) -> UploadReceipt
    {
        let run = try active(id)
        do {
            let receipt = try run.withLock { () throws(ServerRejection) -> UploadReceipt in
                let open = try run.requireOpen(round: round)
                if run.configuration.secureAggregation != nil {
                    throw ServerRejection(
                        .badRequest,
                        "run \(id) aggregates securely: its phones send the secure-aggregation stages, not plain updates"
                    )
                }
                return try open.receive(device: device, bytes: bytes, extras: extras)
            }
            withLock { counters.accepted(bytes: bytes.count, duplicate: !receipt.accepted) }
            return receipt
        } catch {
            withLock { counters.rejected(error.reason) }
            throw error
        }
    }

    /// Counts an upload a transport refused before it reached ``upload(run:round:device:bytes:extras:)``
    /// (an unreadable extras header, a body over the transport's limit), so the metrics show
    /// every refused upload.
    public func countRejectedUpload(_ rejection: ServerRejection) {
        withLock { counters.rejected(rejection.reason) }
    }

    /// Closes `closing.round`: aggregates, steps the server optimizer, evaluates when due,
    /// and commits the round in one transaction.
    public func closeRound(run id: Int64, _ closing: RoundClosing) throws -> RoundSummary {
        let run = try active(id)
        let summary = try run.withLock { try run.close(closing, store: store) }
        withLock { counters.roundCommitted(abandoned: summary.abandoned) }
        return summary
    }

    // MARK: - Status

    /// Every active run's position, as JSON-ready values.
    public func status() -> ServerStatus {
        let active = withLock { Array(runs.values) }
        return ServerStatus(
            runs: active.map { r in r.withLock { r.status } }.sorted { $0.runID < $1.runID },
            uploadsAccepted: withLock { counters.uploadsAccepted })
    }

    /// Prometheus text exposition (version 0.0.4) of the server's counters.
    public func prometheusMetrics() -> String {
        let (c, active) = withLock { (counters, Array(runs.values)) }
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for (labels, value) in samples {
                lines.append("\(name)\(labels) \(value == value.rounded() ? String(Int64(value)) : String(value))")
            }
        }
        metric(
            "kbdsim_uploads_accepted_total", "counter", "Updates accepted and aggregated.",
            [("", Double(c.uploadsAccepted))])
        metric(
            "kbdsim_uploads_duplicate_total", "counter", "Identical re-uploads acknowledged without counting.",
            [("", Double(c.uploadsDuplicate))])
        metric("kbdsim_upload_bytes_total", "counter", "Bytes of accepted updates.", [("", Double(c.uploadBytes))])
        metric(
            "kbdsim_uploads_rejected_total", "counter", "Uploads refused, by reason.",
            c.rejections.sorted { $0.key < $1.key }.map { ("{reason=\"\($0.key)\"}", Double($0.value)) })
        metric(
            "kbdsim_rounds_committed_total", "counter", "Rounds committed to the store.",
            [("", Double(c.roundsCommitted))])
        metric(
            "kbdsim_rounds_abandoned_total", "counter", "Rounds abandoned for too few reports.",
            [("", Double(c.roundsAbandoned))])
        let statuses = active.map { r in r.withLock { r.status } }
        metric(
            "kbdsim_run_round", "gauge", "Last committed round per active run.",
            statuses.map { ("{run=\"\($0.runID)\"}", Double($0.committedRounds)) })
        metric(
            "kbdsim_run_accuracy_at_1", "gauge", "Last evaluated acc@1 per active run.",
            statuses.compactMap { s in s.lastAccuracyAt1.map { ("{run=\"\(s.runID)\"}", $0) } })
        metric(
            "kbdsim_run_epsilon", "gauge", "User-level ε after the last committed round per private run, at its δ.",
            statuses.compactMap { s in
                s.epsilon.map { ("{run=\"\(s.runID)\",delta=\"\(s.delta ?? 0)\"}", $0) }
            })
        let quantiles: [(String, (UserAccuracySummary) -> Double)] = [
            ("0.1", { $0.at1.p10 }), ("0.5", { $0.at1.median }), ("0.9", { $0.at1.p90 }),
        ]
        metric(
            "kbdsim_run_user_accuracy_at_1", "gauge",
            "Per-user acc@1 of the last evaluation per active run: quantiles over evaluation users, their unweighted mean and the worst decile's mean.",
            statuses.flatMap { s -> [(String, Double)] in
                guard let u = s.users else { return [] }
                return quantiles.map { ("{run=\"\(s.runID)\",quantile=\"\($0.0)\"}", $0.1(u)) } + [
                    ("{run=\"\(s.runID)\",statistic=\"mean\"}", u.at1.mean),
                    ("{run=\"\(s.runID)\",statistic=\"worst-decile\"}", u.worstDecileAt1),
                ]
            })
        metric(
            "kbdsim_run_users_below_threshold_ratio", "gauge",
            "Share of evaluation users whose acc@1 is below the run's threshold, last evaluation.",
            statuses.compactMap { s in
                s.users.map { ("{run=\"\(s.runID)\",threshold=\"\($0.threshold)\"}", $0.shareBelow) }
            })
        metric(
            "kbdsim_run_personalized_accuracy_at_1", "gauge",
            "Pooled acc@1 after on-phone personalization, last evaluation, per run that personalizes.",
            statuses.compactMap { s in s.personalizedAccuracyAt1.map { ("{run=\"\(s.runID)\"}", $0) } })
        metric(
            "kbdsim_run_regressions_total", "counter", "Evaluated rounds flagged as regressions, per active run.",
            statuses.compactMap { s in s.regressions.map { ("{run=\"\(s.runID)\"}", Double($0)) } })
        metric(
            "kbdsim_run_rollbacks_total", "counter", "Rollbacks to the best checkpoint, per active run.",
            statuses.compactMap { s in s.rollbacks.map { ("{run=\"\(s.runID)\"}", Double($0)) } })
        let workers = active.map { r in r.withLock { (r.id, r.workerThroughput, r.leaseReleases) } }
        func perWorker(_ value: @escaping (WorkerThroughput) -> Double) -> [(String, Double)] {
            workers.flatMap { run, throughput, _ in
                throughput.sorted { $0.key < $1.key }.map {
                    ("{run=\"\(run)\",worker=\"\($0.key)\"}", value($0.value))
                }
            }
        }
        metric(
            "kbdsim_worker_shards_total", "counter", "Shards a worker delivered, per active run (committed rounds).",
            perWorker { Double($0.shards) })
        metric(
            "kbdsim_worker_phones_total", "counter", "Phones a worker trained, per active run.",
            perWorker { Double($0.phones) })
        metric(
            "kbdsim_worker_tokens_total", "counter", "Training tokens a worker processed, per active run.",
            perWorker { Double($0.tokens) })
        metric(
            "kbdsim_worker_train_seconds_total", "counter", "A worker's phones' training seconds, per active run.",
            perWorker { $0.trainSeconds })
        metric(
            "kbdsim_worker_lease_seconds_total", "counter",
            "Wall seconds from a worker's leases to their accepted partials, per active run.",
            perWorker { $0.leaseSeconds })
        metric(
            "kbdsim_worker_partial_bytes_total", "counter",
            "Bytes of a worker's accepted partials (its share of the coordinator's ingress), per active run.",
            perWorker { Double($0.partialBytes) })
        metric(
            "kbdsim_run_lease_releases_total", "counter",
            "Shard leases that expired or were given back and went to another worker, per active run.",
            workers.map { ("{run=\"\($0.0)\"}", Double($0.2)) })
        metric("kbdsim_leases_issued_total", "counter", "Shard leases issued.", [("", Double(c.leasesIssued))])
        metric(
            "kbdsim_partials_accepted_total", "counter", "Workers' partial aggregates accepted.",
            [("", Double(c.partialsAccepted))])
        metric(
            "kbdsim_partial_bytes_total", "counter",
            "Bytes of accepted partial aggregates (the coordinator's ingress).",
            [("", Double(c.partialBytes))])
        metric(
            "kbdsim_partials_rejected_total", "counter", "Partial aggregates refused, by reason.",
            c.partialRejections.sorted { $0.key < $1.key }.map { ("{reason=\"\($0.key)\"}", Double($0.value)) })
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Server-wide counters for the Prometheus endpoint.
struct ServerCounters {
    var uploadsAccepted = 0
    var uploadsDuplicate = 0
    var uploadBytes = 0
    var rejections: [String: Int] = [:]
    var roundsCommitted = 0
    var roundsAbandoned = 0
    var leasesIssued = 0
    var partialsAccepted = 0
    var partialBytes = 0
    var partialRejections: [String: Int] = [:]

    mutating func accepted(bytes: Int, duplicate: Bool) {
        if duplicate {
            uploadsDuplicate += 1
        } else {
            uploadsAccepted += 1
            uploadBytes += bytes
        }
    }

    mutating func rejected(_ reason: ServerRejection.Reason) { rejections[reason.rawValue, default: 0] += 1 }

    mutating func roundCommitted(abandoned: Bool) {
        roundsCommitted += 1
        if abandoned { roundsAbandoned += 1 }
    }
}
