import Aggregation
import Foundation
import KeyboardCorpus
import LanguageModels
import RunStore
import UpdateCodec

/// One run the server is serving: its global model and its open round.
///
/// Every method is called with ``lock`` held (through ``withLock(_:)``).
final class ActiveRun: @unchecked Sendable {
    let id: Int64
    let configuration: RunConfiguration
    let dataset: FederatedDataset
    var model: GlobalModel
    /// Rounds committed (the global model's version).
    var version: Int
    /// Virtual time the next round may start.
    var virtualTime: Int
    var open: OpenRound?
    var lastAccuracyAt1: Double?
    private var cachedDownload: (version: Int, bytes: [UInt8])?
    private let lock = NSLock()

    init(
        id: Int64, configuration: RunConfiguration, dataset: FederatedDataset, model: GlobalModel, version: Int,
        virtualTime: Int
    ) {
        self.id = id
        self.configuration = configuration
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
        RunAttachment(
            runID: id, configuration: configuration, nextRound: version + 1, virtualTime: virtualTime,
            modelBytes: downloadBytes().count)
    }

    var status: ServerStatus.Run {
        ServerStatus.Run(
            runID: id, model: configuration.modelLabel, corpus: configuration.corpus, committedRounds: version,
            totalRounds: configuration.rounds, openRound: open?.opening.round,
            reportsInOpenRound: open?.order.count ?? 0,
            virtualTime: virtualTime, lastAccuracyAt1: lastAccuracyAt1)
    }

    /// The model download for the current version (built once per version).
    func downloadBytes() -> [UInt8] {
        if let cached = cachedDownload, cached.version == version { return cached.bytes }
        let bytes = model.downloadBytes(runID: id, version: version, vocabularyCount: dataset.vocabulary.count)
        cachedDownload = (version, bytes)
        return bytes
    }

    func requireOpen(round: Int) throws(ServerRejection) -> OpenRound {
        guard let open else {
            throw ServerRejection(409, .noOpenRound, "run \(id) has no open round (next is \(version + 1))")
        }
        guard open.opening.round == round else {
            throw ServerRejection(
                409, .wrongRound, "round \(round) is not open; run \(id) is in round \(open.opening.round)")
        }
        return open
    }

    /// Aggregates, steps, evaluates and commits the open round.
    func close(_ closing: RoundClosing, store: RunStore) throws -> RoundSummary {
        let started = Date()
        let open = try requireOpen(round: closing.round)
        if let hours = closing.reportingLocalHours {
            guard hours.count == 24, hours.allSatisfy({ $0 >= 0 }), hours.reduce(0, +) == open.order.count else {
                throw ServerRejection(
                    400, .badRequest,
                    "the local-hour counts of round \(closing.round) must be 24 non-negative counts summing to its \(open.order.count) accepted reports (got \(hours.count) summing to \(hours.reduce(0, +)))"
                )
            }
        }
        let c = configuration
        let minimum = Int((Double(c.cohort) * c.minimumReportFraction).rounded(.up))
        // A round nobody reported to is abandoned even when the minimum fraction is 0.
        let abandoned = open.order.isEmpty || open.order.count < minimum
        var updated = model
        if !abandoned { try open.apply(to: &updated, configuration: c) }
        let round = closing.round
        let evaluate = round == c.rounds || (c.evalEvery > 0 && round % c.evalEvery == 0)
        var evaluation: NextWordMetrics?
        let evaluationStarted = Date()
        if evaluate { evaluation = try updated.evaluate(on: dataset.evalMessages, vocabulary: dataset.vocabulary) }
        let evaluationSeconds = evaluate ? Date().timeIntervalSince(evaluationStarted) : 0
        let federated = c.federatedEval && open.federatedEvaluation.predictions > 0 ? open.federatedEvaluation : nil
        let sha = updated.sha256(vocabularyCount: dataset.vocabulary.count)
        let checkpointBytes = ServerCheckpoint.encode(
            updated, round: round, virtualTime: closing.nextRoundStart, vocabularyCount: dataset.vocabulary.count)
        var hash = SHA256()
        hash.update(checkpointBytes)
        let serverSeconds = Date().timeIntervalSince(started)
        var records: [EvaluationRecord] = []
        if let e = evaluation { records.append(Self.record(e, run: id, round: round, split: "users", source: .server)) }
        if let f = federated {
            records.append(Self.record(f, run: id, round: round, split: "devices", source: .federated))
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
                participants: abandoned ? [] : open.order.map(UInt64.init), keepCheckpointsEvery: c.checkpointEvery))
        // Only now, with the round durable, does the server move on.
        model = updated
        version = round
        virtualTime = closing.nextRoundStart
        self.open = nil
        if let e = evaluation { lastAccuracyAt1 = e.accuracyAt1 }
        return RoundSummary(
            round: round, reported: open.order.count, abandoned: abandoned, tokens: open.tokens, bytesUp: open.bytesUp,
            bytesDown: closing.bytesDown, virtualEnd: closing.virtualEnd, serverSeconds: serverSeconds,
            evaluationSeconds: evaluationSeconds,
            evaluation: evaluation, federatedEvaluation: federated, modelSHA256: sha, modelBytes: downloadBytes().count)
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
    private(set) var order: [UInt32] = []
    /// Per accepted device, a 64-bit FNV-1a hash and the length of what it sent (for
    /// idempotent retries). Not the CRC-32: over a message that ends with its own CRC-32,
    /// CRC-32 is the same constant for every message.
    private var fingerprints: [UInt32: (hash: UInt64, length: Int)] = [:]
    private(set) var bytesUp: Int64 = 0
    private(set) var tokens = 0
    private(set) var federatedEvaluation = NextWordMetrics()
    private var accumulator: UpdateAccumulator?
    private var countUpdates: [NGramCounts] = []
    private var contributions: [(UInt32, Int32)] = []
    private let cohort: Int
    private let maximumUpdateBytes: Int
    private let runID: Int64
    private let ngramOrder: Int?
    private let vocabularyCount: Int

    init(opening: RoundOpening, run: ActiveRun) throws(ServerRejection) {
        self.opening = opening
        selected = Set(opening.selected)
        cohort = run.configuration.cohort
        runID = run.id
        vocabularyCount = run.dataset.vocabulary.count
        switch run.model {
        case .neural(let n):
            let count = n.weights.count
            accumulator = UpdateAccumulator(parameterCount: count, layoutHash: n.model.layoutHash)
            // float32 plus rotation padding, chunk scales and framing: anything larger is not an update.
            maximumUpdateBytes = 5 * count + 1 << 20
            ngramOrder = nil
        case .ngram(let g):
            maximumUpdateBytes = 64 << 20
            ngramOrder = g.order
        }
    }

    func receive(device: Int, bytes: [UInt8], extras: UploadExtras, run: ActiveRun) throws(ServerRejection)
        -> UploadReceipt
    {
        let round = opening.round
        guard device >= 0, device <= Int(UInt32.max), selected.contains(UInt32(device)) else {
            throw ServerRejection(
                403, .unknownDevice, "device \(device) was not selected for round \(round) of run \(runID)")
        }
        let d = UInt32(device)
        let hash = fnv1a64(bytes)
        if let seen = fingerprints[d] {
            guard seen.hash == hash, seen.length == bytes.count else {
                throw ServerRejection(
                    409, .conflictingReplay, "device \(device) already reported a different update in round \(round)")
            }
            return UploadReceipt(accepted: false, reportsSoFar: order.count)
        }
        guard extras.virtualTime <= opening.deadline else {
            throw ServerRejection(
                410, .afterDeadline,
                "the report of device \(device) arrived at virtual time \(extras.virtualTime), after round \(round)'s deadline \(opening.deadline)"
            )
        }
        guard order.count < cohort else {
            throw ServerRejection(
                409, .cohortComplete,
                "round \(round) already has its \(cohort) reports; the update of device \(device) is surplus")
        }
        guard bytes.count <= maximumUpdateBytes else {
            throw ServerRejection(
                413, .oversizedUpdate,
                "an update of \(bytes.count) bytes exceeds this model's limit of \(maximumUpdateBytes)")
        }
        if let evaluation = extras.evaluation {
            guard evaluation.predictions >= 0, evaluation.hitsAt1 >= 0, evaluation.hitsAt3 >= evaluation.hitsAt1,
                evaluation.predictions >= evaluation.hitsAt3,
                evaluation.inVocabularyPredictions <= evaluation.predictions,
                evaluation.negativeLogLikelihood.isFinite || evaluation.predictions == 0
            else {
                throw ServerRejection(400, .badRequest, "the federated evaluation of device \(device) is inconsistent")
            }
        }
        var examples = 0
        if let order = ngramOrder {
            let decoded: (NGramUpdateWire.Envelope, NGramCounts)
            do {
                decoded = try NGramUpdateWire.decode(bytes, expectedOrder: order, vocabularyCount: vocabularyCount)
            } catch {
                throw ServerRejection(400, .malformedUpdate, error.message)
            }
            try checkEnvelope(
                runID: decoded.0.runID, round: decoded.0.round, device: decoded.0.device, expectedDevice: device)
            examples = decoded.0.exampleCount
            if !decoded.1.isEmpty { countUpdates.append(decoded.1) }
            if let day = extras.textThroughDay {
                guard let day32 = Int32(exactly: day) else {
                    throw ServerRejection(400, .badRequest, "text-through day \(day) is out of range")
                }
                contributions.append((d, day32))
            }
        } else {
            let header: UpdateHeader
            do {
                header = try bytes.withUnsafeBytes {
                    (raw: UnsafeRawBufferPointer) throws(UpdateCodecError) -> UpdateHeader in
                    let h = try accumulator!.decoder.readHeader(raw)
                    try Self.checkHeaderBeforeAccumulating(h)
                    return h
                }
                try checkEnvelope(
                    runID: header.metadata.runID, round: Int(header.metadata.round),
                    device: Int(exactly: header.metadata.deviceID) ?? -1, expectedDevice: device)
                _ = try accumulator!.accumulate(bytes)
            } catch let error as UpdateCodecError {
                throw ServerRejection(400, .malformedUpdate, error.description)
            } catch let error as ServerRejection {
                throw error
            } catch {
                throw ServerRejection(400, .malformedUpdate, "\(error)")
            }
            examples = Int(header.metadata.exampleCount)
        }
        fingerprints[d] = (hash, bytes.count)
        order.append(d)
        bytesUp += Int64(bytes.count)
        tokens += examples
        if let evaluation = extras.evaluation { federatedEvaluation.merge(evaluation) }
        return UploadReceipt(accepted: true, reportsSoFar: order.count)
    }

    private static func checkHeaderBeforeAccumulating(_ header: UpdateHeader) throws(UpdateCodecError) {
        guard header.metadata.exampleCount > 0 else {
            throw UpdateCodecError(
                code: .invalidField, field: "exampleCount",
                message: "an update must report at least one training example")
        }
    }

    private func checkEnvelope(runID: UInt64, round: Int, device: Int, expectedDevice: Int) throws(ServerRejection) {
        guard runID == UInt64(self.runID) else {
            throw ServerRejection(409, .wrongRound, "the update is for run \(runID), not run \(self.runID)")
        }
        guard round == opening.round else {
            throw ServerRejection(
                409, .wrongRound,
                "the update was trained for round \(round), but round \(opening.round) is open (a replay?)")
        }
        guard device == expectedDevice else {
            throw ServerRejection(
                403, .unknownDevice, "the update says device \(device) but was sent as device \(expectedDevice)")
        }
    }

    /// Applies the round's aggregate to `model`.
    func apply(to model: inout GlobalModel, configuration: RunConfiguration) throws {
        switch model {
        case .neural(var n):
            guard let accumulator, accumulator.totalWeight > 0 else { return }
            let mean = Array(accumulator.weightedMean())
            n.optimizer.step(
                weights: &n.weights, averageDelta: mean, learningRateScale: n.schedule.scale(round: opening.round))
            model = .neural(n)
        case .ngram(var g):
            // Pairwise merges keep the work O(total · log cohort).
            var level = countUpdates
            while level.count > 1 {
                var next: [NGramCounts] = []
                for i in stride(from: 0, to: level.count, by: 2) {
                    var a = level[i]
                    if i + 1 < level.count { a.merge(level[i + 1]) }
                    next.append(a)
                }
                level = next
            }
            if let sum = level.first { g.counts.merge(sum) }
            for (device, day) in contributions { g.contributedThroughDay[device] = day }
            model = .ngram(g)
        }
    }
}
