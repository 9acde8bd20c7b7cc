import KeyboardCorpus

/// Raw n-gram counts of orders 1 through N over messages framed as `<s> w1 … wn </s>`.
///
/// This is what a device uploads when the n-gram model trains federated, and what the
/// server sums: ``merge(_:)`` adds two count sets exactly. The Kneser-Ney model is always
/// rebuilt from counts (``KneserNeyModel/init(counts:vocabularyCount:)``).
///
/// An n-gram exists at a target position only if it fits inside the framed message
/// (a single `<s>`), and `<s>` is never a target, so order 1 holds no `<s>`.
public struct NGramCounts: Sendable, Equatable {
    /// The highest order, `1...5`.
    public let order: Int
    /// For each order `n` (index `n - 1`), the distinct n-grams, sorted.
    public internal(set) var keys: [[NGramKey]]
    /// For each order, the raw count of each n-gram in `keys`.
    public internal(set) var counts: [[UInt32]]

    /// An empty count set.
    public init(order: Int) {
        precondition((1...NGramKey.maximumLength).contains(order), "n-gram order must be 1...5")
        self.order = order
        keys = Array(repeating: [], count: order)
        counts = Array(repeating: [], count: order)
    }

    /// Counts the n-grams of `messages` (vocabulary ids, no `<s>`/`</s>`).
    public init(order: Int, messages: some Sequence<[Int32]>) {
        self.init(order: order)
        var grams = [[NGramKey]](repeating: [], count: order)
        var framed: [Int32] = []
        for message in messages {
            framed.removeAll(keepingCapacity: true)
            framed.append(SpecialToken.bos.rawValue)
            framed.append(contentsOf: message)
            framed.append(SpecialToken.eos.rawValue)
            framed.withUnsafeBufferPointer { f in
                for t in 1..<f.count {
                    for n in 1...min(order, t + 1) {
                        grams[n - 1].append(NGramKey(UnsafeBufferPointer(rebasing: f[(t - n + 1)...t])))
                    }
                }
            }
        }
        for n in 0..<order {
            grams[n].sort()
            var uniqueKeys: [NGramKey] = []
            var uniqueCounts: [UInt32] = []
            uniqueKeys.reserveCapacity(grams[n].count / 2)
            uniqueCounts.reserveCapacity(grams[n].count / 2)
            for key in grams[n] {
                if let last = uniqueKeys.last, last == key {
                    uniqueCounts[uniqueCounts.count - 1] += 1
                } else {
                    uniqueKeys.append(key)
                    uniqueCounts.append(1)
                }
            }
            keys[n] = uniqueKeys
            counts[n] = uniqueCounts
        }
    }

    /// The number of distinct n-grams of order `n`.
    public func distinctCount(order n: Int) -> Int { keys[n - 1].count }

    /// The raw count of the n-gram `ids` (its length is its order), or 0.
    public func count(of ids: [Int32]) -> UInt32 {
        guard (1...order).contains(ids.count), let i = keys[ids.count - 1].binarySearch(NGramKey(ids)) else { return 0 }
        return counts[ids.count - 1][i]
    }

    /// Adds `other`'s counts to these (a sorted merge per order).
    ///
    /// - Precondition: both have the same order.
    public mutating func merge(_ other: NGramCounts) {
        precondition(other.order == order, "cannot merge \(other.order)-gram counts into \(order)-gram counts")
        for n in 0..<order {
            let (a, ac, b, bc) = (keys[n], counts[n], other.keys[n], other.counts[n])
            var mk: [NGramKey] = []
            var mc: [UInt32] = []
            mk.reserveCapacity(max(a.count, b.count))
            mc.reserveCapacity(max(a.count, b.count))
            var i = 0
            var j = 0
            while i < a.count || j < b.count {
                if j == b.count || (i < a.count && a[i] < b[j]) {
                    mk.append(a[i])
                    mc.append(ac[i])
                    i += 1
                } else if i == a.count || b[j] < a[i] {
                    mk.append(b[j])
                    mc.append(bc[j])
                    j += 1
                } else {
                    mk.append(a[i])
                    mc.append(ac[i] &+ bc[j])
                    i += 1
                    j += 1
                }
            }
            keys[n] = mk
            counts[n] = mc
        }
    }
}
