import Foundation

/// Vectorized `Float` transcendental kernels over 16-lane SIMD (AVX-512/AVX2 with
/// `-target-cpu haswell`).
///
/// `exp` uses Cephes' range reduction (`x = n·ln2 + r`, `|r| ≤ ln2/2`) and its degree-6
/// polynomial, then scales by `2^n` through the exponent bits; relative error ≤ 2 ulp on
/// `[-87.3, 88.7]`, inputs clamped to that range (so `exp(-inf)` is ~1e-38, not 0 — the
/// softmax zeroes excluded ids explicitly). `sigmoid` and `tanh` are built on it; `tanh`
/// has absolute error ≤ 2e-7.
enum FastMath {
    typealias V = SIMD16<Float>

    @inline(__always)
    static func exp(_ xIn: V) -> V {
        // Comparisons + blends: `clamped`/`pointwiseMax` lower to per-lane loops through the stack.
        let lo = V(repeating: -87.3)
        let hi = V(repeating: 88.7)
        var x = xIn.replacing(with: lo, where: xIn .< lo)
        x = x.replacing(with: hi, where: x .> hi)
        // n = round(x / ln2) via the 1.5·2^23 trick: the low mantissa bits of t hold n.
        let magic = V(repeating: 12_582_912)
        let tt = (x * V(repeating: 1.442_695_040_888_963_4)) + magic
        let n = tt - magic
        x = x.addingProduct(n, V(repeating: -0.693_359_375))
        x = x.addingProduct(n, V(repeating: 2.121_944_4e-4))
        let z = x * x
        var p = V(repeating: 1.987_569_150_0e-4)
        p = p * x + V(repeating: 1.398_199_950_7e-3)
        p = p * x + V(repeating: 8.333_451_907_3e-3)
        p = p * x + V(repeating: 4.166_579_589_4e-2)
        p = p * x + V(repeating: 1.666_666_545_9e-1)
        p = p * x + V(repeating: 5.000_000_120_1e-1)
        p = p * z + x + V(repeating: 1)
        let bits = unsafeBitCast(tt, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((bits &+ 127) &<< 23, to: V.self)
        return p * scale
    }

    /// Loads up to 16 floats, padding with `fill`.
    @inline(__always)
    static func loadPartial(_ x: UnsafePointer<Float>, count: Int, fill: Float) -> V {
        var v = V(repeating: fill)
        for i in 0..<count { v[i] = x[i] }
        return v
    }

    @inline(__always)
    static func storePartial(_ v: V, _ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = v[i] }
    }

    @inline(__always)
    static func load(_ x: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(x).loadUnaligned(as: V.self)
    }

    @inline(__always)
    static func store(_ v: V, _ x: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(x).storeBytes(of: v, as: V.self)
    }

    @inline(__always)
    static func sigmoid(_ v: V) -> V { 1 / (1 + exp(-v)) }

    @inline(__always)
    static func tanh(_ v: V) -> V { 2 / (1 + exp(-2 * v)) - 1 }

    static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            store(sigmoid(load(x + i)), x + i)
            i += 16
        }
        if i < count { storePartial(sigmoid(loadPartial(x + i, count: count - i, fill: 0)), x + i, count: count - i) }
    }

    static func tanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            store(tanh(load(x + i)), x + i)
            i += 16
        }
        if i < count { storePartial(tanh(loadPartial(x + i, count: count - i, fill: 0)), x + i, count: count - i) }
    }

    /// Row maximum over all lanes (fixed order).
    static func max(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= count {
            let v = load(x + i)
            acc = acc.replacing(with: v, where: v .> acc)
            i += 16
        }
        var m = acc.max()
        while i < count {
            m = Swift.max(m, x[i])
            i += 1
        }
        return m
    }

    static func softmaxExcludingPadAndBOS(_ row: UnsafeMutablePointer<Float>, count: Int) -> Float {
        row[0] = -.greatestFiniteMagnitude
        row[2] = -.greatestFiniteMagnitude
        let m = max(row, count: count)
        let mv = V(repeating: m)
        var acc = V(repeating: 0)
        var i = 0
        while i + 16 <= count {
            let e = exp(load(row + i) - mv)
            store(e, row + i)
            acc += e
            i += 16
        }
        if i < count {
            let n = count - i
            var e = exp(loadPartial(row + i, count: n, fill: 0) - mv)
            for lane in n..<16 { e[lane] = 0 }
            storePartial(e, row + i, count: n)
            acc += e
        }
        var sum = acc.sum()
        sum -= row[0] + row[2]
        row[0] = 0
        row[2] = 0
        let inv = V(repeating: 1 / sum)
        i = 0
        while i + 16 <= count {
            store(load(row + i) * inv, row + i)
            i += 16
        }
        while i < count {
            row[i] *= inv[0]
            i += 1
        }
        return m + Foundation.log(sum)
    }

    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var start = 0
        // Blocks of 4096 in Float SIMD, combined in Double: accurate and order-fixed.
        while start < count {
            let end = Swift.min(count, start + 4096)
            var acc = V(repeating: 0)
            var i = start
            while i + 16 <= end {
                let v = load(x + i)
                acc = acc.addingProduct(v, v)
                i += 16
            }
            var s = Double(acc.sum())
            while i < end {
                s += Double(x[i] * x[i])
                i += 1
            }
            total += s
            start = end
        }
        return total
    }
}
