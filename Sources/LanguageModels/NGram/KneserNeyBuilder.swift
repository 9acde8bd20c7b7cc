internal import Foundation
import KeyboardCorpus

/// Turns raw counts into the levels of an interpolated modified Kneser-Ney model.
struct KneserNeyBuilder {
    let counts: NGramCounts
    let vocabularyCount: Int
    /// Adjusted counts per order: raw at the highest order, left-extension counts below
    /// (raw for n-grams that start with `<s>`).
    let adjusted: [[Double]]
    /// (D1, D2, D3+) per order.
    let discounts: [[Double]]

    init(counts: NGramCounts, vocabularyCount: Int) {
        self.counts = counts
        self.vocabularyCount = vocabularyCount
        let order = counts.order
        var adjusted = [[Double]](repeating: [], count: order)
        adjusted[order - 1] = counts.counts[order - 1].map(Double.init)
        if order >= 2 {
            for n in 1..<order {  // adjusted counts of order n from the distinct (n + 1)-grams
                var left = [Double](repeating: 0, count: counts.keys[n - 1].count)
                for key in counts.keys[n] {
                    if let i = counts.keys[n - 1].binarySearch(key.droppingFirst(ofLength: n + 1)) { left[i] += 1 }
                }
                for (i, key) in counts.keys[n - 1].enumerated() where key.id(at: 0) == SpecialToken.bos.rawValue {
                    left[i] = Double(counts.counts[n - 1][i])
                }
                adjusted[n - 1] = left
            }
        }
        self.adjusted = adjusted
        discounts = adjusted.map(Self.discounts(from:))
    }

    /// Chen & Goodman's estimates from the count-of-counts t1…t4; when a count-of-counts
    /// is zero (tiny corpora) or an estimate leaves its valid range, a single discount
    /// `Y = t1 / (t1 + 2 t2)` (or 0.5) is used for all three.
    static func discounts(from adjusted: [Double]) -> [Double] {
        var t = [Double](repeating: 0, count: 5)
        for a in adjusted where a >= 1 && a <= 4 { t[Int(a)] += 1 }
        let y = t[1] > 0 || t[2] > 0 ? t[1] / (t[1] + 2 * t[2]) : 0.5
        if t[1] > 0, t[2] > 0, t[3] > 0, t[4] > 0 {
            let d = [1 - 2 * y * t[2] / t[1], 2 - 3 * y * t[3] / t[2], 3 - 4 * y * t[4] / t[3]]
            if d[0] > 0, d[0] < 1, d[1] > 0, d[1] < 2, d[2] > 0, d[2] < 3 { return d }
        }
        let single = y > 0 && y < 1 ? y : 0.5
        return [single, single, single]
    }

    @inline(__always)
    static func discount(_ a: Double, _ d: [Double]) -> Double {
        a >= 3 ? d[2] : (a >= 2 ? d[1] : (a >= 1 ? d[0] : 0))
    }

    func buildLevels() -> [NGramLevel] {
        var levels: [NGramLevel] = []
        levels.append(unigramLevel())
        if counts.order >= 2 {
            for n in 2...counts.order { levels.append(level(order: n, lower: levels[n - 2])) }
        }
        // A context's backoff weight also belongs to the (n − 1)-gram it names (ARPA), which
        // the level above already holds; nothing more to do here.
        return levels
    }

    /// Order 1: every id but `<pad>`, interpolated with the uniform distribution over the
    /// `V` words, `<unk>` and `</s>`; `<s>` is never predicted (log10 p = −99, as in ARPA).
    private func unigramLevel() -> NGramLevel {
        var a = [Double](repeating: 0, count: vocabularyCount)
        for (i, key) in counts.keys[0].enumerated() { a[Int(key.id(at: 0))] = adjusted[0][i] }
        let d = discounts[0]
        var total = 0.0
        var n = [0.0, 0.0, 0.0]
        for id in 1..<vocabularyCount where id != Int(SpecialToken.bos.rawValue) && a[id] > 0 {
            total += a[id]
            n[min(Int(a[id]), 3) - 1] += 1
        }
        // No unigram with a positive adjusted count (differentially private counts can leave
        // none): all mass goes to the uniform distribution.
        let gamma = total > 0 ? (d[0] * n[0] + d[1] * n[1] + d[2] * n[2]) / total : 1
        let uniform = 1.0 / Double(vocabularyCount - 2)  // V words + <unk> + </s>
        var level = NGramLevel()
        for id in 1..<vocabularyCount {
            level.keys.append(NGramKey([Int32(id)]))
            if id == Int(SpecialToken.bos.rawValue) {
                level.logProb.append(-99)
            } else {
                let p = (total > 0 ? max(a[id] - Self.discount(a[id], d), 0) / total : 0) + gamma * uniform
                level.logProb.append(log10(p))
            }
        }
        level.contextLogBackoff = [log10(gamma)]
        level.index(length: 1)
        return level
    }

    /// Order n ≥ 2: p(w|h) = max(a(hw) − D, 0) / Σ a(h·) + γ(h) p(w|h′).
    private func level(order n: Int, lower: NGramLevel) -> NGramLevel {
        let keys = counts.keys[n - 1]
        let a = adjusted[n - 1]
        let d = discounts[n - 1]
        var level = NGramLevel()
        level.keys = keys
        level.logProb = [Double](repeating: 0, count: keys.count)
        var backoffs: [Double] = []
        var start = 0
        while start < keys.count {
            let context = keys[start].prefix(ofLength: n - 1)
            var end = start
            var total = 0.0
            var nk = [0.0, 0.0, 0.0]
            while end < keys.count && keys[end].prefix(ofLength: n - 1) == context {
                total += a[end]
                if a[end] >= 1 { nk[min(Int(a[end]), 3) - 1] += 1 }
                end += 1
            }
            // A context whose n-grams all have adjusted count 0 (possible in differentially
            // private counts, where left extensions can fall under the threshold) backs off
            // entirely.
            let gamma = total > 0 ? (d[0] * nk[0] + d[1] * nk[1] + d[2] * nk[2]) / total : 1
            for e in start..<end {
                let suffix = keys[e].droppingFirst(ofLength: n)
                let lowerIndex: Int
                if n == 2 {
                    lowerIndex = Int(suffix.id(at: 0)) - 1  // order 1 holds ids 1..<V+4 in order
                } else {
                    lowerIndex = lower.keys.binarySearch(suffix)!  // every suffix of a seen n-gram is seen
                }
                let own = total > 0 ? max(a[e] - Self.discount(a[e], d), 0) / total : 0
                let p = own + gamma * pow(10, lower.logProb[lowerIndex])
                level.logProb[e] = log10(p)
            }
            backoffs.append(log10(gamma))
            start = end
        }
        level.contextLogBackoff = backoffs
        level.index(length: n)
        return level
    }
}
