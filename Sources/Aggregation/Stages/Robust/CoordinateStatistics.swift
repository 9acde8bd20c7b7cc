/// Coordinate-wise order statistics over an ``UpdateBuffer``: the median and the trimmed mean
/// of every parameter across the round's updates (Yin et al. 2018).
///
/// Each coordinate's `n` values are gathered, a block of coordinates at a time, into one
/// scratch area and partitioned in place by quickselect: O(n) per coordinate on average, no
/// allocation per coordinate.
public enum CoordinateStatistics {
    /// Coordinates gathered per block (`block × n` floats of scratch).
    static let block = 64

    /// The coordinate-wise median of the `count` updates in `buffer` (the mean of the two
    /// middle values when `count` is even), written to `output` (`parameterCount` values).
    public static func median(
        of buffer: UnsafeBufferPointer<Float>, count n: Int, into output: UnsafeMutableBufferPointer<Float>
    ) {
        forEachColumn(of: buffer, count: n, parameterCount: output.count) { column, j in
            let upper = select(column, n, n / 2)
            if n % 2 == 1 {
                output[j] = upper
            } else {
                // After the selection the lower half holds the n/2 smallest; its largest is the
                // lower middle value.
                var lower = column[0]
                for i in 1..<(n / 2) where column[i] > lower { lower = column[i] }
                output[j] = Float((Double(lower) + Double(upper)) / 2)
            }
        }
    }

    /// The coordinate-wise mean after dropping the `trim` lowest and `trim` highest values of
    /// each coordinate (`2 · trim < count`), written to `output`.
    public static func trimmedMean(
        of buffer: UnsafeBufferPointer<Float>, count n: Int, trim: Int, into output: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(trim >= 0 && 2 * trim < n, "cannot drop \(trim) values at each end of \(n)")
        let kept = n - 2 * trim
        forEachColumn(of: buffer, count: n, parameterCount: output.count) { column, j in
            if trim > 0 {
                // Ranks trim … n−1−trim end up in column[trim ... n−1−trim].
                _ = select(column, n, trim)
                _ = select(column + trim, n - trim, n - 1 - 2 * trim)
            }
            var sum = 0.0
            for i in trim..<(trim + kept) { sum += Double(column[i]) }
            output[j] = Float(sum / Double(kept))
        }
    }

    /// Calls `body(column, j)` for every coordinate `j`, `column` holding the `n` updates'
    /// values of coordinate `j` (scratch the body may reorder).
    private static func forEachColumn(
        of buffer: UnsafeBufferPointer<Float>, count n: Int, parameterCount p: Int,
        _ body: (UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        guard n > 0, p > 0 else { return }
        precondition(buffer.count == n * p, "the buffer holds \(buffer.count) values, not \(n) × \(p)")
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: block * n)
        defer { scratch.deallocate() }
        let source = buffer.baseAddress!
        var start = 0
        while start < p {
            let width = min(block, p - start)
            // Transpose the block: column c of the block is scratch[c*n ..< (c+1)*n].
            for i in 0..<n {
                let row = source + i * p + start
                for c in 0..<width { scratch[c * n + i] = row[c] }
            }
            for c in 0..<width { body(scratch + c * n, start + c) }
            start += width
        }
    }

    /// Rearranges `a[0..<n]` so that `a[k]` is the value of rank `k` (0-based), everything
    /// before it ≤ it and everything after ≥ it; returns `a[k]`. Quickselect with a
    /// median-of-three pivot, insertion sort below 16 values; deterministic.
    static func select(_ a: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int) -> Float {
        precondition(k >= 0 && k < n, "rank \(k) of \(n) values")
        var lo = 0
        var hi = n - 1
        while hi - lo >= 16 {
            let mid = lo + (hi - lo) / 2
            let (x, y, z) = (a[lo], a[mid], a[hi])
            let pivot = max(min(x, y), min(max(x, y), z))
            var i = lo
            var j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j {
                    (a[i], a[j]) = (a[j], a[i])
                    i += 1
                    j -= 1
                }
            }
            // a[lo...j] ≤ pivot, a[i...hi] ≥ pivot, and a[j+1..<i] == pivot.
            if k <= j {
                hi = j
            } else if k >= i {
                lo = i
            } else {
                return a[k]
            }
        }
        // Insertion sort of the small range left.
        if hi > lo {
            for i in (lo + 1)...hi {
                let v = a[i]
                var j = i - 1
                while j >= lo && a[j] > v {
                    a[j + 1] = a[j]
                    j -= 1
                }
                a[j + 1] = v
            }
        }
        return a[k]
    }
}
