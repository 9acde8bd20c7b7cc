/// Krum's scores (Blanchard et al. 2017, "Machine learning with adversaries: Byzantine
/// tolerant gradient descent"): with `n` updates of which at most `f` are Byzantine, an
/// update's score is the sum of its squared L2 distances to its `n − f − 2` nearest other
/// updates. Krum keeps the update with the lowest score; multi-Krum averages the `m` lowest.
/// It needs `n > 2f + 2`.
public enum Krum {
    /// The fewest updates Krum with `f` tolerated attackers can score: `2f + 3`.
    public static func minimumUpdates(f: Int) -> Int { 2 * f + 3 }

    /// The scores of the `n` updates in `buffer` (`n × parameterCount` values, row by row).
    ///
    /// - Precondition: `n ≥ 2f + 3`.
    /// - Complexity: O(n² · parameterCount) for the distances, O(n² log n) for the scores.
    public static func scores(of buffer: UnsafeBufferPointer<Float>, count n: Int, f: Int) -> [Double] {
        precondition(n >= minimumUpdates(f: f), "Krum with f = \(f) needs at least \(minimumUpdates(f: f)) updates")
        let p = buffer.count / n
        let base = buffer.baseAddress!
        var distances = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in (i + 1)..<n {
                let d = squaredDistance(base + i * p, base + j * p, p)
                distances[i * n + j] = d
                distances[j * n + i] = d
            }
        }
        let neighbours = n - f - 2
        var others = [Double](repeating: 0, count: n - 1)
        var scores = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var k = 0
            for j in 0..<n where j != i {
                others[k] = distances[i * n + j]
                k += 1
            }
            others.sort()
            scores[i] = others[0..<neighbours].reduce(0, +)
        }
        return scores
    }

    /// The indices of the `m` lowest scores, lowest first (ties: the earlier update first).
    public static func lowest(_ m: Int, of scores: [Double]) -> [Int] {
        Array(scores.indices.sorted { (scores[$0], $0) < (scores[$1], $1) }.prefix(m))
    }

    /// ‖a − b‖² over `p` values: Float differences squared and summed 16 lanes at a time, each
    /// block of lanes added into a `Double`.
    static func squaredDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ p: Int) -> Double {
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        var total = 0.0
        var i = 0
        while i + 16 <= p {
            var lanes = SIMD16<Float>()
            var blockEnd = min(p, i + 1024)
            blockEnd -= (blockEnd - i) % 16
            while i < blockEnd {
                let d =
                    ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                    - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                lanes = lanes.addingProduct(d, d)
                i += 16
            }
            for l in 0..<16 { total += Double(lanes[l]) }
        }
        while i < p {
            let d = Double(a[i]) - Double(b[i])
            total += d * d
            i += 1
        }
        return total
    }
}
