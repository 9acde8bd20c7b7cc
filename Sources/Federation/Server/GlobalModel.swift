import Aggregation
import Dispatch
import Foundation
import KeyboardCorpus
import LanguageModels
import UpdateCodec

/// The server's global model and everything that must survive a restart with it: the
/// weights and the server optimizer's state (neural), or the summed counts and each
/// device's contribution horizon (n-gram).
enum GlobalModel {
    case neural(Neural)
    case ngram(NGram)

    struct Neural {
        var model: LSTMLanguageModel
        var weights: [Float]
        var optimizer: any ServerOptimizer
        /// The server learning rate's factor by round (`halflife=` in the optimizer string).
        var schedule: ServerLearningRateSchedule
    }

    struct NGram {
        var order: Int
        var counts: NGramCounts
        /// Per device, the last local day whose text it has contributed.
        var contributedThroughDay: [UInt32: Int32]
    }

    /// A fresh model for `configuration` (deterministic in its seed).
    static func initial(_ configuration: RunConfiguration, vocabulary: Vocabulary) throws -> GlobalModel {
        switch configuration.model {
        case .neural(let config):
            var model = try LSTMLanguageModel(config: config)
            if configuration.zipfBias { model.initializeOutputBiasFromRanks() }
            let (kind, schedule) = try ServerOptimizerKind.parseWithSchedule(configuration.serverOptimizer)
            let weights = Array(model.parameters)
            return .neural(
                Neural(
                    model: model, weights: weights, optimizer: kind.makeOptimizer(parameterCount: weights.count),
                    schedule: schedule))
        case .ngram(let order):
            return .ngram(NGram(order: order, counts: NGramCounts(order: order), contributedThroughDay: [:]))
        }
    }

    // MARK: - Download

    /// The bytes a device downloads (`KBDW` weights, or the `KBDG` count table).
    func downloadBytes(runID: Int64, version: Int, vocabularyCount: Int) -> [UInt8] {
        switch self {
        case .neural(let n):
            var w = ByteWriter(capacity: 40 + 4 * n.weights.count)
            w.append(ModelDownload.magic)
            w.u16(1)
            w.u16(0)
            w.i64(runID)
            w.u32(UInt32(version))
            w.u64(n.model.layoutHash)
            w.u32(UInt32(n.weights.count))
            w.floats(n.weights)
            w.sealWithCRC()
            return w.bytes
        case .ngram(let g):
            return NGramUpdateWire.encode(
                g.counts, vocabularyCount: vocabularyCount,
                envelope: .init(runID: UInt64(runID), round: version, device: 0, exampleCount: g.counts.tokenCount))
        }
    }

    /// SHA-256 of the model's defining bytes (weights, or counts).
    func sha256(vocabularyCount: Int) -> String {
        var hash = SHA256()
        hash.update(downloadBytes(runID: 0, version: 0, vocabularyCount: vocabularyCount))
        return hash.finalizeHex()
    }

    // MARK: - Evaluation

    /// nwp-v1 figures on `messages`, on two threads.
    func evaluate(on messages: [[Int32]], vocabulary: Vocabulary) throws -> NextWordMetrics {
        switch self {
        case .neural(let n):
            var model = n.model
            model.parameters = ContiguousArray(n.weights)
            return Self.evaluateNeural(model, messages: messages)
        case .ngram(let g):
            guard !g.counts.isEmpty else { return Self.emptyModelMetrics(messages) }
            let kn = try KneserNeyModel(counts: g.counts, vocabulary: vocabulary)
            return NextWordEvaluator(threads: 2).evaluate(kn, messages: messages)
        }
    }

    /// Two predictors on two threads, merged in shard order (thread-count independent sums).
    static func evaluateNeural(_ model: LSTMLanguageModel, messages: [[Int32]]) -> NextWordMetrics {
        let shards = max(1, min(2, messages.count))
        nonisolated(unsafe) var results = [NextWordMetrics](repeating: NextWordMetrics(), count: shards)
        results.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let out = slots
            DispatchQueue.concurrentPerform(iterations: shards) { shard in
                var predictor = LSTMPredictor(model: model)
                let lower = messages.count * shard / shards
                let upper = messages.count * (shard + 1) / shards
                out[shard] = NextWordEvaluator.evaluate(&predictor, messages: messages[lower..<upper])
            }
        }
        var total = NextWordMetrics()
        for r in results { total.merge(r) }
        return total
    }

    /// Before any count arrives the n-gram model predicts nothing: every target is a miss.
    static func emptyModelMetrics(_ messages: [[Int32]]) -> NextWordMetrics {
        var m = NextWordMetrics()
        for message in messages {
            m.predictions += message.count
            m.inVocabularyPredictions += message.lazy.filter { $0 != SpecialToken.unk.rawValue }.count
        }
        m.negativeLogLikelihood = .infinity
        return m
    }
}

/// The `KBDW` model download: run id, version, layout hash and float32 weights.
public enum ModelDownload {
    static let magic: [UInt8] = Array("KBDW".utf8)

    /// Decodes a download, checking it is for `layoutHash` and `parameterCount`.
    public static func decodeWeights(_ bytes: [UInt8], layoutHash: UInt64, parameterCount: Int) throws(FederationError)
        -> (version: Int, weights: ContiguousArray<Float>)
    {
        let what = "model download"
        try ByteReader.verifyCRC(bytes, what: what)
        var r = ByteReader(Array(bytes.dropLast(4)), what: what)
        guard try r.raw(4) == magic else {
            throw FederationError(.protocolViolation, "\(what): bad magic (not a KBDW model)")
        }
        guard try r.u16() == 1 else { throw FederationError(.protocolViolation, "\(what): unsupported version") }
        _ = try r.u16()
        _ = try r.i64()
        let version = Int(try r.u32())
        guard try r.u64() == layoutHash else {
            throw FederationError(.protocolViolation, "\(what): the model's layout does not match this client's")
        }
        let count = Int(try r.u32())
        guard count == parameterCount else {
            throw FederationError(
                .protocolViolation, "\(what): \(count) parameters, the client expects \(parameterCount)")
        }
        let weights = try r.floats(count)
        guard r.remaining == 0 else {
            throw FederationError(.protocolViolation, "\(what): \(r.remaining) trailing bytes")
        }
        return (version, ContiguousArray(weights))
    }
}
