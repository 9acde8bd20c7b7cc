import Aggregation
import FederatedCore
import Federation
import FederationProtocol
import Foundation
import KeyboardCorpus
import LanguageModelTypes
import RunStore
import UpdateCodec

/// One run the server is serving: its global model and its open round.
///
/// Every method is called with ``lock`` held (through ``withLock(_:)``).
final class ActiveRun: @unchecked Sendable {
    let id: Int64
    let configuration: RunConfiguration
    /// The configuration's ``RunConfiguration/secureAggregationGrid``, computed once (with
    /// distributed DP it fits γ to the ring).
    let secureAggregationGrid: SecureAggregationGrid?
    let dataset: FederatedDataset
    var model: any GlobalModel
    /// Rounds committed (the global model's version).
    var version: Int
    /// Virtual time the next round may start.
    var virtualTime: Int
    var open: OpenRound?
    var lastAccuracyAt1: Double?
    /// The last evaluation's per-user distribution and personalized acc@1 (for `/metrics`).
    var lastUsers: UserAccuracySummary?
    var lastPersonalizedAccuracyAt1: Double?
    /// Regressions flagged and rollbacks made while attached.
    var regressions = 0
    var rollbacks = 0
    /// Scale-out: what each worker delivered to this run, and leases that expired or were
    /// given back, over the rounds committed while attached.
    var workerThroughput: [String: WorkerThroughput] = [:]
    var leaseReleases = 0
    /// Who reported in the committed rounds (kept for runs with participation limits or
    /// differential privacy, whose accounting composes over it).
    var ledger: ParticipationLedger
    /// The privacy guarantee after the last committed round (runs with DP).
    var lastPrivacy: PrivacyStatus?
    /// The best evaluated round so far, its acc@1 and its checkpoint (what a rollback restores).
    var best: BestRound?
    private var cachedDownload: (version: Int, bytes: [UInt8])?
    private let lock = NSLock()

    init(
        id: Int64, configuration: RunConfiguration, dataset: FederatedDataset, model: any GlobalModel, version: Int,
        virtualTime: Int, ledger: ParticipationLedger = ParticipationLedger(), best: BestRound? = nil
    ) {
        self.best = best
        self.ledger = ledger
        self.id = id
        self.configuration = configuration
        self.secureAggregationGrid = configuration.secureAggregationGrid
        self.dataset = dataset
        self.model = model
        self.version = version
        self.virtualTime = virtualTime
    }

    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var attachment: RunAttachment {
        var a = RunAttachment(
            runID: id, configuration: configuration, nextRound: version + 1, virtualTime: virtualTime,
            modelBytes: downloadBytes().count)
        if configuration.participation != nil { a.participation = ledger }
        return a
    }

    /// Refuses an opening that selects a phone the run's participation limits do not allow.
    func checkLimits(_ opening: RoundOpening) throws(ServerRejection) {
        guard let limits = configuration.participation else { return }
        for d in opening.selected where !ledger.allows(d, round: opening.round, under: limits) {
            let e = ledger.entry(d)
            throw ServerRejection(
                .badRequest,
                "device \(d) may not take part in round \(opening.round): it reported \(e.count) times, last in round \(e.lastRound) (limits: at most \(limits.maximumParticipations.map(String.init) ?? "any") participations, \(limits.minimumSeparation ?? 1) rounds apart)"
            )
        }
    }

    var status: ServerStatus.Run {
        var s = ServerStatus.Run(
            runID: id, model: configuration.modelLabel, corpus: configuration.corpus, committedRounds: version,
            totalRounds: configuration.rounds, openRound: open?.opening.round,
            reportsInOpenRound: open?.order.count ?? 0,
            virtualTime: virtualTime, lastAccuracyAt1: lastAccuracyAt1)
        s.epsilon = lastPrivacy?.epsilon
        s.delta = lastPrivacy?.delta
        s.users = lastUsers
        s.personalizedAccuracyAt1 = lastPersonalizedAccuracyAt1
        s.regressions = regressions
        s.rollbacks = rollbacks
        return s
    }

    /// The model download for the current version (built once per version).
    func downloadBytes() -> [UInt8] {
        if let cached = cachedDownload, cached.version == version { return cached.bytes }
        let bytes = model.downloadBytes(runID: id, version: version)
        cachedDownload = (version, bytes)
        return bytes
    }

    func requireOpen(round: Int) throws(ServerRejection) -> OpenRound {
        guard let open else {
            throw ServerRejection(.noOpenRound, "run \(id) has no open round (next is \(version + 1))")
        }
        guard open.opening.round == round else {
            throw ServerRejection(
                .wrongRound, "round \(round) is not open; run \(id) is in round \(open.opening.round)")
        }
        return open
    }

    /// Aggregates, steps, evaluates and commits the open round.
    func close(_ closing: RoundClosing, store: RunStore) throws -> RoundSummary {
        let started = Date()
        let open = try requireOpen(round: closing.round)
        let delivered = open.shardWork.map { ($0.throughput, $0.releases) }
        try open.accountShards()
        if let (throughput, releases) = delivered {
            for (worker, t) in throughput {
                workerThroughput[worker, default: WorkerThroughput()] += t
            }
            leaseReleases += releases
        }
        if let hours = closing.reportingLocalHours {
            guard hours.count == 24, hours.allSatisfy({ $0 >= 0 }), hours.reduce(0, +) == open.order.count else {
                throw ServerRejection(
                    .badRequest,
                    "the local-hour counts of round \(closing.round) must be 24 non-negative counts summing to its \(open.order.count) accepted reports (got \(hours.count) summing to \(hours.reduce(0, +)))"
                )
            }
        }
        let c = configuration
        var abandoned = RoundQuorum(cohort: c.cohort, minimumReportFraction: c.minimumReportFraction)
            .isAbandoned(reports: open.order.count)
        // Under secure aggregation a round without its unmasked sum is abandoned, never stepped.
        if c.secureAggregation != nil, open.secureAggregation?.finished != true { abandoned = true }
        var updated = model
        var stageReports: [StageReport] = []
        if !abandoned { (updated, stageReports) = try open.aggregation.close() }
        if let report = closing.secureAggregation {
            stageReports.append(StageReport(stage: "secure-aggregation", payload: report))
        }
        let round = closing.round
        let evaluate = round == c.rounds || (c.evalEvery > 0 && round % c.evalEvery == 0)
        var evaluation: NextWordMetrics?
        var userScores: [UserScore] = []
        var personalization: PersonalizationResult?
        let evaluationStarted = Date()
        if evaluate {
            let each = try updated.evaluateEach(on: dataset.evalMessages)
            evaluation = each.total
            userScores = dataset.evalUsers.scores(perMessage: each.perMessage)
            if let settings = c.personalization {
                personalization = try updated.personalize(dataset.personalization, settings: settings, run: c)
            }
        }
        let backdoor =
            evaluate
            ? try Backdoor(configuration: c, vocabulary: dataset.vocabulary).flatMap {
                updated.backdoorMetrics($0.contexts(from: dataset.evalMessages))
            } : nil
        let evaluationSeconds = evaluate ? Date().timeIntervalSince(evaluationStarted) : 0
        let federated = c.federatedEval && open.federatedEvaluation.predictions > 0 ? open.federatedEvaluation : nil
        let sha = updated.sha256()
        // The regression guard: compare with the best evaluated round; a rollback continues
        // from the best round's checkpoint (model and stage state), this round still recorded.
        var regression: RegressionCheck?
        var continued = updated
        var bestAfter = best
        if let e = evaluation {
            let rule = c.regressionGuard ?? RegressionGuard()
            if let best {
                let regressed = best.accuracyAt1 - e.accuracyAt1 > rule.threshold
                var rolledBackTo: Int?
                if regressed, rule.rollback {
                    continued = try ServerCheckpoint.decode(best.checkpoint, into: model).model
                    rolledBackTo = best.round
                }
                regression = RegressionCheck(
                    round: round, accuracyAt1: e.accuracyAt1, bestRound: best.round,
                    bestAccuracyAt1: best.accuracyAt1, regressed: regressed, rolledBackTo: rolledBackTo)
            }
        }
        let checkpointBytes = ServerCheckpoint.encode(continued, round: round, virtualTime: closing.nextRoundStart)
        if let e = evaluation, best.map({ e.accuracyAt1 > $0.accuracyAt1 }) ?? true {
            bestAfter = BestRound(round: round, accuracyAt1: e.accuracyAt1, checkpoint: checkpointBytes)
        }
        var hash = SHA256()
        hash.update(checkpointBytes)
        let serverSeconds = Date().timeIntervalSince(started)
        var ledgerAfter = ledger
        if !abandoned { ledgerAfter.record(open.order, round: round) }
        let privacy = try RunPrivacyAccounting.status(c, round: round, ledger: ledgerAfter)
        if let privacy { stageReports.append(StageReport(stage: "privacy", payload: privacy)) }
        if let (throughput, releases) = delivered {
            // Scale-out: who trained the round's shards, and how many leases went to another worker.
            stageReports.append(
                StageReport(stage: "workers", payload: WorkersReport(workers: throughput, releases: releases)))
        }
        if let skipped = closing.skippedByLimits {
            stageReports.append(
                StageReport(
                    stage: "participation-limits",
                    payload: ["skipped": skipped, "maximumParticipations": ledgerAfter.maximumCount]))
        }
        let split = c.splitKind.rawValue
        var records: [EvaluationRecord] = []
        var userRecords: [UserEvaluationRecord] = []
        func users(_ scores: [UserScore], _ split: String) {
            userRecords += scores.map {
                UserEvaluationRecord(
                    runId: id, round: round, split: split, user: Int64($0.user), predictions: $0.predictions,
                    hits1: $0.hitsAt1, hits3: $0.hitsAt3)
            }
        }
        if let e = evaluation {
            records.append(Self.record(e, run: id, round: round, split: split, source: .server))
            users(userScores, split)
        }
        if let f = federated {
            records.append(Self.record(f, run: id, round: round, split: "devices", source: .federated))
            users(open.federatedUsers, "devices")
        }
        if let p = personalization {
            records.append(Self.record(p.global, run: id, round: round, split: "personal-global", source: .server))
            records.append(Self.record(p.personalized, run: id, round: round, split: "personalized", source: .server))
            users(p.globalUsers, "personal-global")
            users(p.personalizedUsers, "personalized")
            if let lambda = p.lambda {
                stageReports.append(StageReport(stage: "personalization", payload: ["lambda": lambda]))
            }
        }
        let roundRecord = RoundRecord(
            runId: id, number: round, virtualStart: Double(closing.virtualStart),
            virtualEnd: Double(closing.virtualEnd),
            selected: closing.selected, reported: open.order.count, dropped: closing.dropped,
            stragglers: closing.stragglers,
            abandoned: abandoned, bytesDown: closing.bytesDown, bytesUp: open.bytesUp,
            wallSeconds: closing.wallSeconds + serverSeconds,
            surplus: closing.surplus, tokens: Int64(open.tokens), trainSeconds: closing.trainSeconds,
            serverSeconds: serverSeconds,
            modelSHA256: sha, reportingLocalHours: closing.reportingLocalHours)
        let checkpoint = CheckpointRecord(
            runId: id, round: round, format: ServerCheckpoint.format, sha256: hash.finalizeHex(),
            byteCount: Int64(checkpointBytes.count), data: Data(checkpointBytes), path: nil)
        try store.commit(
            RunStore.CommittedRound(
                round: roundRecord, evaluations: records, checkpoint: checkpoint,
                participants: abandoned ? [] : open.order.map(UInt64.init), keepCheckpointsEvery: c.checkpointEvery,
                stageReports: stageReports.map {
                    StageReportRecord(runId: id, round: round, stage: $0.stage, json: $0.json)
                },
                backdoorEvaluations: backdoor.map {
                    [
                        BackdoorEvaluationRecord(
                            runId: id, round: round, contexts: $0.predictions, at1: $0.accuracyAt1, at3: $0.accuracyAt3)
                    ]
                } ?? [], userEvaluations: userRecords, keepCheckpointOfRound: bestAfter?.round,
                regression: regression.flatMap { r in
                    r.regressed
                        ? RegressionRecord(
                            runId: id, round: round, acc1: r.accuracyAt1, bestRound: r.bestRound,
                            bestAcc1: r.bestAccuracyAt1, rolledBackTo: r.rolledBackTo) : nil
                }))
        // Only now, with the round durable, does the server move on.
        model = continued
        best = bestAfter
        ledger = ledgerAfter
        if let privacy { lastPrivacy = privacy }
        version = round
        virtualTime = closing.nextRoundStart
        self.open = nil
        if let e = evaluation { lastAccuracyAt1 = e.accuracyAt1 }
        var summary = RoundSummary(
            round: round, reported: open.order.count, abandoned: abandoned, tokens: open.tokens, bytesUp: open.bytesUp,
            bytesDown: closing.bytesDown, virtualEnd: closing.virtualEnd, serverSeconds: serverSeconds,
            evaluationSeconds: evaluationSeconds,
            evaluation: evaluation, federatedEvaluation: federated, modelSHA256: sha, modelBytes: downloadBytes().count,
            privacy: privacy, participants: c.participation != nil && !abandoned ? open.order : nil)
        summary.backdoor = backdoor
        let threshold = c.userThreshold ?? UserAccuracySummary.defaultThreshold
        summary.users = evaluation != nil ? UserAccuracySummary(userScores, threshold: threshold) : nil
        summary.federatedUsers = federated != nil ? UserAccuracySummary(open.federatedUsers, threshold: threshold) : nil
        summary.personalization = personalization
        summary.regression = regression
        summary.secureAggregation = closing.secureAggregation
        if let users = summary.users { lastUsers = users }
        if let personalization { lastPersonalizedAccuracyAt1 = personalization.personalized.accuracyAt1 }
        if regression?.regressed == true { regressions += 1 }
        if regression?.rolledBackTo != nil { rollbacks += 1 }
        return summary
    }

    static func record(_ m: NextWordMetrics, run: Int64, round: Int, split: String, source: EvaluationRecord.Source)
        -> EvaluationRecord
    {
        EvaluationRecord(
            runId: run, round: round, split: split, source: source, metric: "nwp-v1", predictions: m.predictions,
            acc1: m.accuracyAt1, acc3: m.accuracyAt3, acc1iv: m.accuracyAt1InVocabulary,
            ppl: m.perplexity.isFinite ? m.perplexity : nil)
    }
}

/// The server's view of the round in progress.
final class OpenRound: @unchecked Sendable {
    let opening: RoundOpening
    let selected: Set<UInt32>
    /// Accepted devices in arrival order (the aggregation order).
    var order: [UInt32] = []
    /// Per accepted device, a 64-bit FNV-1a hash and the length of what it sent (for
    /// idempotent retries). Not the CRC-32: over a message that ends with its own CRC-32,
    /// CRC-32 is the same constant for every message.
    private var fingerprints: [UInt32: (hash: UInt64, length: Int)] = [:]
    var bytesUp: Int64 = 0
    var tokens = 0
    fileprivate(set) var federatedEvaluation = NextWordMetrics()
    /// Each reporting phone's own federated evaluation, by device, in arrival order.
    fileprivate(set) var federatedUsers: [UserScore] = []
    /// The model kind's aggregation of this round's updates.
    let aggregation: any RoundAggregation
    /// The round's training as shards for workers, once the fleet published it.
    var shardWork: ShardWork?
    /// Secure aggregation's state for this round (runs with `--secure-aggregation`, once the
    /// fleet has opened it).
    var secureAggregation: SecureAggregationSession?
    let cohort: Int
    private let maximumUpdateBytes: Int
    private let runID: Int64

    init(opening: RoundOpening, run: ActiveRun) {
        self.opening = opening
        selected = Set(opening.selected)
        cohort = run.configuration.cohort
        runID = run.id
        maximumUpdateBytes = run.model.maximumUpdateBytes
        aggregation = run.model.openRound(opening.round, envelope: RoundEnvelope(runID: run.id, round: opening.round))
    }

    func receive(device: Int, bytes: [UInt8], extras: UploadExtras) throws(ServerRejection)
        -> UploadReceipt
    {
        let round = opening.round
        guard device >= 0, device <= Int(UInt32.max), selected.contains(UInt32(device)) else {
            throw ServerRejection(
                .unknownDevice, "device \(device) was not selected for round \(round) of run \(runID)")
        }
        let d = UInt32(device)
        let hash = fnv1a64(bytes)
        if let seen = fingerprints[d] {
            guard seen.hash == hash, seen.length == bytes.count else {
                throw ServerRejection(
                    .conflictingReplay, "device \(device) already reported a different update in round \(round)")
            }
            return UploadReceipt(accepted: false, reportsSoFar: order.count)
        }
        guard extras.virtualTime <= opening.deadline else {
            throw ServerRejection(
                .afterDeadline,
                "the report of device \(device) arrived at virtual time \(extras.virtualTime), after round \(round)'s deadline \(opening.deadline)"
            )
        }
        guard order.count < cohort else {
            throw ServerRejection(
                .cohortComplete,
                "round \(round) already has its \(cohort) reports; the update of device \(device) is surplus")
        }
        guard bytes.count <= maximumUpdateBytes else {
            throw ServerRejection(
                .oversizedUpdate,
                "an update of \(bytes.count) bytes exceeds this model's limit of \(maximumUpdateBytes)")
        }
        if let evaluation = extras.evaluation {
            guard evaluation.predictions >= 0, evaluation.hitsAt1 >= 0, evaluation.hitsAt3 >= evaluation.hitsAt1,
                evaluation.predictions >= evaluation.hitsAt3,
                evaluation.inVocabularyPredictions <= evaluation.predictions,
                evaluation.negativeLogLikelihood.isFinite || evaluation.predictions == 0
            else {
                throw ServerRejection(.badRequest, "the federated evaluation of device \(device) is inconsistent")
            }
        }
        let examples = try aggregation.receive(bytes, device: d, extras: extras)
        fingerprints[d] = (hash, bytes.count)
        order.append(d)
        bytesUp += Int64(bytes.count)
        tokens += examples
        if let evaluation = extras.evaluation {
            federatedEvaluation.merge(evaluation)
            if evaluation.predictions > 0 { federatedUsers.append(UserScore(user: device, metrics: evaluation)) }
        }
        return UploadReceipt(accepted: true, reportsSoFar: order.count)
    }
}

extension OpenRound {
    /// Takes a worker's partial for its lease: checks the lease, that the partial names the
    /// shard's phones in order and fits the cohort, then sums it (nothing changes on a refusal).
    func receivePartial(_ partial: PartialAggregate, bytes partialBytes: Int, now: Date) throws(ServerRejection)
        -> PartialReceipt
    {
        guard var work = shardWork else {
            throw ServerRejection(.noOpenRound, "round \(opening.round) has no shards published for workers")
        }
        if let retry = try work.check(partial.lease, shard: partial.shard, now: now) { return retry }
        let assignment = work.publication.shards[partial.shard]
        guard partial.devices.map(\.device) == assignment.devices else {
            throw ServerRejection(
                .badRequest,
                "the partial of shard \(partial.shard) must account for the shard's \(assignment.devices.count) phones in their order"
            )
        }
        let reported = partial.devices.count(where: \.reported)
        let already = work.received.values.reduce(0) { $0 + $1.count(where: \.reported) } + order.count
        guard already + reported <= cohort else {
            throw ServerRejection(
                .cohortComplete, "round \(opening.round) would have more than its \(cohort) reports with this partial")
        }
        for d in partial.devices {
            guard d.bytes >= 0, d.tokens >= 0, d.trainSeconds.isFinite, d.trainSeconds >= 0 else {
                throw ServerRejection(.badRequest, "the partial's accounting of device \(d.device) is inconsistent")
            }
            if let e = d.evaluation {
                guard e.predictions >= 0, e.hitsAt1 >= 0, e.hitsAt3 >= e.hitsAt1, e.predictions >= e.hitsAt3,
                    e.inVocabularyPredictions <= e.predictions, e.negativeLogLikelihood.isFinite || e.predictions == 0
                else {
                    throw ServerRejection(.badRequest, "the federated evaluation of device \(d.device) is inconsistent")
                }
            }
        }
        try aggregation.receivePartial(partial)
        work.record(partial.lease, devices: partial.devices, bytes: partialBytes, now: now)
        shardWork = work
        return PartialReceipt(accepted: true, shardsReceived: work.received.count)
    }

    /// Accounts the received shards' phones in shard order (as one process would have
    /// received them), once every shard is in: reports, bytes, tokens, federated evaluation.
    func accountShards() throws(ServerRejection) {
        guard let work = shardWork else { return }
        guard work.isComplete else {
            throw ServerRejection(
                .badRequest,
                "round \(opening.round) has \(work.received.count) of its \(work.publication.shards.count) shards; close it when every shard is in"
            )
        }
        for index in work.received.keys.sorted() {
            for d in work.received[index]! where d.reported {
                order.append(UInt32(d.device))
                bytesUp += Int64(d.bytes)
                tokens += d.tokens
                if let evaluation = d.evaluation {
                    federatedEvaluation.merge(evaluation)
                    if evaluation.predictions > 0 {
                        federatedUsers.append(UserScore(user: d.device, metrics: evaluation))
                    }
                }
            }
        }
        shardWork = nil
    }
}

/// A sharded round's `workers` stage report: what each worker delivered, and the leases that
/// expired or were given back (docs/scale-out.md).
public struct WorkersReport: Codable, Sendable {
    public var workers: [String: WorkerThroughput]
    public var releases: Int
}

/// 64-bit FNV-1a.
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBufferPointer { b in
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in b { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}

/// The best evaluated round of a run so far: what the regression guard compares with and a
/// rollback restores.
struct BestRound: Sendable {
    var round: Int
    var accuracyAt1: Double
    /// Its server checkpoint (``ServerCheckpoint``).
    var checkpoint: [UInt8]
}
