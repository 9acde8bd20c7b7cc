internal import Foundation
public import KeyboardCorpus

/// An interpolated modified Kneser-Ney n-gram model (Chen & Goodman 1998), orders 1–5:
/// the classic keyboard baseline.
///
/// Built from ``NGramCounts`` with KenLM's conventions: the highest order uses raw counts,
/// lower orders the number of distinct left extensions (n-grams that start with `<s>`
/// keep their raw count), three discounts per order from that order's count-of-counts,
/// and the unigram interpolated with the uniform distribution over the `V` words, `<unk>`
/// and `</s>`. The interpolated model is stored in its exact backoff form — every seen
/// n-gram's full probability and every context's backoff weight γ(h) — which is what ARPA
/// files hold, so export and import are lossless.
///
/// Top-k prediction is exact without scoring the vocabulary: a word unseen after a context
/// keeps the lower order's ranking (its probability is γ(h)·p(w|h′)), so the top k lie
/// among the first k eligible words of each order's context, scanned in a precomputed
/// rank order.
public struct KneserNeyModel: NextWordPredictor, Sendable {
    /// The model's order `N`: it conditions on the last `N − 1` tokens.
    public let order: Int
    /// The vocabulary the model's ids refer to.
    public let vocabulary: Vocabulary
    /// The discounts `(D1, D2, D3+)` of each order, index `n − 1`; from import, empty.
    public let discounts: [[Double]]
    var levels: [NGramLevel]

    public var vocabularyCount: Int { vocabulary.count }

    /// Builds the model from counts.
    ///
    /// - Throws: ``LanguageModelError`` if the counts are empty.
    public init(counts: NGramCounts, vocabulary: Vocabulary) throws {
        guard !counts.keys[0].isEmpty else {
            throw LanguageModelError(
                .noTrainingData, "cannot build a Kneser-Ney model from no training text; the training split is empty")
        }
        guard vocabulary.count - 1 <= Int(NGramKey.maximumID) else {
            throw LanguageModelError(
                .vocabularyTooLarge,
                "a vocabulary of \(vocabulary.count) ids does not fit the n-gram key (at most \(NGramKey.maximumID))")
        }
        let builder = KneserNeyBuilder(counts: counts, vocabularyCount: vocabulary.count)
        self.order = counts.order
        self.vocabulary = vocabulary
        self.discounts = builder.discounts
        self.levels = builder.buildLevels()
    }

    init(order: Int, vocabulary: Vocabulary, levels: [NGramLevel]) {
        self.order = order
        self.vocabulary = vocabulary
        self.discounts = []
        self.levels = levels
    }

    /// The number of n-grams stored at order `n` (order 1 counts every id but `<pad>`).
    public func entryCount(order n: Int) -> Int { levels[n - 1].keys.count }

    // MARK: - Scoring

    /// The log10 probability of `word` after `history` (the context's last tokens,
    /// `<s>` first when the context is a whole message prefix).
    public func log10Probability(of word: Int32, after history: [Int32]) -> Double {
        history.withUnsafeBufferPointer { h in
            var found = LevelContexts()
            findContexts(history: h, into: &found)
            return log10Probability(of: word, in: found)
        }
    }

    /// The `k` best next words after `history`, best first.
    public func topK(after history: [Int32], k: Int) -> [Int32] {
        var out = [Int32](repeating: -1, count: k)
        var scores = [Double](repeating: -.infinity, count: k)
        history.withUnsafeBufferPointer { h in
            var found = LevelContexts()
            findContexts(history: h, into: &found)
            out.withUnsafeMutableBufferPointer { o in
                scores.withUnsafeMutableBufferPointer { s in topK(in: found, k: k, ids: o, scores: s) }
            }
        }
        return out.filter { $0 >= 0 }
    }

    public mutating func predictMessage(
        _ ids: UnsafeBufferPointer<Int32>, k: Int, topK topKOut: UnsafeMutableBufferPointer<Int32>,
        targetLogProbs: UnsafeMutableBufferPointer<Double>
    ) {
        precondition(topKOut.count >= ids.count * k && targetLogProbs.count >= ids.count, "output buffers too small")
        var framed = [Int32](repeating: SpecialToken.bos.rawValue, count: ids.count + 1)
        for i in 0..<ids.count { framed[i + 1] = ids[i] }
        var scores = [Double](repeating: 0, count: k)
        framed.withUnsafeBufferPointer { f in
            scores.withUnsafeMutableBufferPointer { s in
                for i in 0..<ids.count {
                    let start = max(0, i + 1 - (order - 1))
                    var found = LevelContexts()
                    findContexts(history: UnsafeBufferPointer(rebasing: f[start..<(i + 1)]), into: &found)
                    topK(
                        in: found, k: k, ids: UnsafeMutableBufferPointer(rebasing: topKOut[(i * k)..<(i * k + k)]),
                        scores: s)
                    targetLogProbs[i] = log10Probability(of: ids[i], in: found) * M_LN10
                }
            }
        }
    }

    /// The context index found at each order for one history, highest order first.
    struct LevelContexts {
        var count = 0
        var level: (Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0)
        var context: (Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0)

        mutating func append(level l: Int, context c: Int) {
            withUnsafeMutableBytes(of: &level) { $0.storeBytes(of: l, toByteOffset: count * 8, as: Int.self) }
            withUnsafeMutableBytes(of: &context) { $0.storeBytes(of: c, toByteOffset: count * 8, as: Int.self) }
            count += 1
        }
        func level(_ i: Int) -> Int { withUnsafeBytes(of: level) { $0.load(fromByteOffset: i * 8, as: Int.self) } }
        func context(_ i: Int) -> Int { withUnsafeBytes(of: context) { $0.load(fromByteOffset: i * 8, as: Int.self) } }
    }

    /// Looks up the contexts of every order for `history`, highest order first; an order
    /// whose context was never seen is skipped (its backoff weight is 1).
    func findContexts(history: UnsafeBufferPointer<Int32>, into found: inout LevelContexts) {
        let usable = min(order - 1, history.count)
        for length in stride(from: usable, through: 0, by: -1) {
            let level = length  // levels[length] holds (length + 1)-grams
            if length == 0 {
                found.append(level: 0, context: 0)
                break
            }
            let key = NGramKey(UnsafeBufferPointer(rebasing: history[(history.count - length)...]))
            if let c = levels[level].contexts.binarySearch(key) { found.append(level: level, context: c) }
        }
    }

    func log10Probability(of word: Int32, in found: LevelContexts) -> Double {
        var backoff = 0.0
        for i in 0..<found.count {
            let level = levels[found.level(i)]
            let c = found.context(i)
            if let e = level.entry(of: word, inContext: c) { return backoff + level.logProb[e] }
            backoff += level.contextLogBackoff[c]
        }
        return -99
    }

    /// Exact top-k: the first `k` eligible words of each order's context in rank order.
    func topK(
        in found: LevelContexts, k: Int, ids: UnsafeMutableBufferPointer<Int32>,
        scores: UnsafeMutableBufferPointer<Double>
    ) {
        for i in 0..<k {
            ids[i] = -1
            scores[i] = -.infinity
        }
        var backoff = 0.0
        for i in 0..<found.count {
            let level = levels[found.level(i)]
            let c = found.context(i)
            var taken = 0
            let range = level.contextStart[c]..<level.contextStart[c + 1]
            level.rankOrder.withUnsafeBufferPointer { rank in
                for r in range {
                    let e = Int(rank[r])
                    let w = level.words[e]
                    if w < SpecialToken.firstWordID { continue }
                    var seenHigher = false
                    for h in 0..<i where levels[found.level(h)].entry(of: w, inContext: found.context(h)) != nil {
                        seenHigher = true
                        break
                    }
                    if seenHigher { continue }
                    let score = backoff + level.logProb[e]
                    // Insert into the small sorted candidate list: score desc, id asc.
                    if score > scores[k - 1] || (score == scores[k - 1] && w < ids[k - 1]) || ids[k - 1] < 0 {
                        var j = k - 1
                        while j > 0
                            && (score > scores[j - 1] || (score == scores[j - 1] && (w < ids[j - 1] || ids[j - 1] < 0)))
                        {
                            scores[j] = scores[j - 1]
                            ids[j] = ids[j - 1]
                            j -= 1
                        }
                        scores[j] = score
                        ids[j] = w
                    }
                    taken += 1
                    if taken == k { break }
                }
            }
            backoff += level.contextLogBackoff[c]
        }
    }
}

/// One order's n-grams in backoff form.
struct NGramLevel: Sendable {
    /// The n-grams, sorted.
    var keys: [NGramKey] = []
    /// The last id of each n-gram.
    var words: [Int32] = []
    /// log10 p(w | h) of each n-gram, interpolated.
    var logProb: [Double] = []
    /// The distinct contexts (first n − 1 ids), sorted; index `c`.
    var contexts: [NGramKey] = []
    /// Context `c`'s n-grams are `contextStart[c] ..< contextStart[c + 1]`.
    var contextStart: [Int] = [0]
    /// log10 γ(h) of each context.
    var contextLogBackoff: [Double] = []
    /// Entry indices; within each context, by log-probability descending, then id ascending.
    var rankOrder: [Int32] = []

    /// The entry of `word` in context `c`, by binary search over the context's words.
    @inline(__always)
    func entry(of word: Int32, inContext c: Int) -> Int? {
        words.withUnsafeBufferPointer { w in
            var low = contextStart[c]
            var high = contextStart[c + 1]
            while low < high {
                let mid = (low + high) >> 1
                if w[mid] < word { low = mid + 1 } else { high = mid }
            }
            return low < contextStart[c + 1] && w[low] == word ? low : nil
        }
    }

    /// Fills `contexts`, `contextStart`, `words` and `rankOrder` from sorted `keys` and
    /// `logProb`; `length` is the n-gram order.
    mutating func index(length: Int) {
        words = keys.map { $0.id(at: length - 1) }
        contexts = []
        contextStart = []
        for (e, key) in keys.enumerated() {
            let context = key.prefix(ofLength: length - 1)
            if contexts.last != context || contexts.isEmpty {
                contexts.append(context)
                contextStart.append(e)
            }
        }
        contextStart.append(keys.count)
        rankOrder = [Int32](repeating: 0, count: keys.count)
        for c in 0..<contexts.count {
            let range = contextStart[c]..<contextStart[c + 1]
            let sorted = range.sorted { a, b in
                logProb[a] != logProb[b] ? logProb[a] > logProb[b] : words[a] < words[b]
            }
            for (offset, e) in sorted.enumerated() { rankOrder[range.lowerBound + offset] = Int32(e) }
        }
        if contextLogBackoff.count != contexts.count {
            contextLogBackoff = [Double](repeating: 0, count: contexts.count)
        }
    }
}
