import Dispatch
import KeyboardCorpus
public import LanguageModelTypes

/// Scores a ``NextWordPredictor`` on messages under nwp-v1, on one or more threads.
///
/// Every token position of every message is one prediction with `k = 3` suggestions;
/// `acc@1` counts the first suggestion, `acc@3` any of the three; a target that is
/// `<unk>` (out of vocabulary) is always a miss. Threads take contiguous shards of the
/// messages and their sums are merged in shard order, so the result does not depend on
/// the thread count.
public struct NextWordEvaluator: Sendable {
    /// How many threads to use; each gets its own copy of the predictor.
    public var threads: Int

    public init(threads: Int = 2) {
        precondition(threads >= 1, "threads must be at least 1")
        self.threads = threads
    }

    /// Evaluates `model` on `messages` (vocabulary ids, no `<s>`/`</s>`).
    public func evaluate<Model: NextWordPredictor & Sendable>(_ model: Model, messages: [[Int32]]) -> NextWordMetrics {
        let shards = max(1, min(threads, messages.count))
        let results = ShardResults(count: shards)
        DispatchQueue.concurrentPerform(iterations: shards) { shard in
            var local = model
            let lower = messages.count * shard / shards
            let upper = messages.count * (shard + 1) / shards
            results.store(Self.evaluate(&local, messages: messages[lower..<upper]), at: shard)
        }
        var total = NextWordMetrics()
        for m in results.values { total.merge(m) }
        return total
    }

    /// Evaluates `messages` on ``threads`` threads with a predictor made per thread, and also
    /// returns each message's own figures (in message order), from which per-user figures are
    /// summed. The pooled figures are the same sums, in the same order, as ``evaluate(_:messages:)``.
    public func evaluateEach<Model: NextWordPredictor>(
        messages: [[Int32]], makePredictor: @Sendable () -> Model
    ) -> (total: NextWordMetrics, perMessage: [NextWordMetrics]) {
        let shards = max(1, min(threads, messages.count))
        let results = ShardResults(count: shards)
        nonisolated(unsafe) var perMessage = [NextWordMetrics](repeating: NextWordMetrics(), count: messages.count)
        perMessage.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let out = slots
            DispatchQueue.concurrentPerform(iterations: shards) { shard in
                var local = makePredictor()
                let lower = messages.count * shard / shards
                let upper = messages.count * (shard + 1) / shards
                var index = lower
                let total = Self.evaluate(&local, messages: messages[lower..<upper]) { m in
                    out[index] = m
                    index += 1
                }
                results.store(total, at: shard)
            }
        }
        var total = NextWordMetrics()
        for m in results.values { total.merge(m) }
        return (total, perMessage)
    }

    /// Evaluates on the calling thread.
    public static func evaluate(_ model: inout some NextWordPredictor, messages: some Sequence<[Int32]>)
        -> NextWordMetrics
    {
        evaluate(&model, messages: messages) { _ in }
    }

    /// Evaluates on the calling thread, telling `each` every message's own figures in order
    /// (an empty message's are zero).
    public static func evaluate(
        _ model: inout some NextWordPredictor, messages: some Sequence<[Int32]>, each: (NextWordMetrics) -> Void
    ) -> NextWordMetrics {
        let k = 3
        var metrics = NextWordMetrics()
        var top: [Int32] = []
        var logProbs: [Double] = []
        for message in messages {
            guard !message.isEmpty else {
                each(NextWordMetrics())
                continue
            }
            let before = metrics
            if top.count < message.count * k {
                top = [Int32](repeating: 0, count: message.count * k)
                logProbs = [Double](repeating: 0, count: message.count)
            }
            message.withUnsafeBufferPointer { ids in
                top.withUnsafeMutableBufferPointer { t in
                    logProbs.withUnsafeMutableBufferPointer { lp in
                        model.predictMessage(ids, k: k, topK: t, targetLogProbs: lp)
                    }
                }
            }
            for (i, target) in message.enumerated() {
                metrics.predictions += 1
                metrics.negativeLogLikelihood -= logProbs[i]
                guard target != SpecialToken.unk.rawValue else { continue }
                metrics.inVocabularyPredictions += 1
                if top[i * k] == target {
                    metrics.hitsAt1 += 1
                    metrics.hitsAt3 += 1
                } else if top[i * k + 1] == target || top[i * k + 2] == target {
                    metrics.hitsAt3 += 1
                }
            }
            var own = NextWordMetrics()
            own.predictions = metrics.predictions - before.predictions
            own.inVocabularyPredictions = metrics.inVocabularyPredictions - before.inVocabularyPredictions
            own.hitsAt1 = metrics.hitsAt1 - before.hitsAt1
            own.hitsAt3 = metrics.hitsAt3 - before.hitsAt3
            for i in 0..<message.count { own.negativeLogLikelihood -= logProbs[i] }
            each(own)
        }
        return metrics
    }
}

/// Per-shard results written by concurrent workers.
///
/// `@unchecked Sendable`: each worker writes only its own slot of a fixed allocation, and
/// the owner reads the slots after `concurrentPerform` returns, which orders the writes
/// before the reads.
private final class ShardResults: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<NextWordMetrics>
    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: NextWordMetrics())
    }
    deinit { slots.deallocate() }
    func store(_ m: NextWordMetrics, at i: Int) { slots[i] = m }
    var values: [NextWordMetrics] { Array(slots) }
}
