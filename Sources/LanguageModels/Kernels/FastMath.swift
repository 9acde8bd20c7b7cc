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

    /// Softmax, cross-entropy and the logits' gradient of one row in three passes, without
    /// the separate bias copy, normalization and scaling passes of
    /// ``softmaxExcludingPadAndBOS(_:count:)``: the row holds `y·Eᵀ` *without* the output bias,
    /// which is added on the fly.
    ///
    /// Pass 1 finds the maximum of `row + bias` over every id except `<pad>` (0) and `<s>` (2);
    /// pass 2 writes `e = exp(row + bias − max)` (0 at ids 0 and 2) and sums it; pass 3, when
    /// `biasGradient` is given, turns the row into `gradientScale · (softmax − onehot(target))`
    /// and adds it into `biasGradient`. Without `biasGradient` (evaluation) pass 2 writes
    /// nothing and pass 3 is skipped: the row is left as it came.
    ///
    /// - Returns: the cross-entropy `log Σ exp(logit) − logit[target]` (nats).
    /// - Precondition: `count ≥ 3`; `target` in `0..<count`, not 0 or 2.
    static func softmaxCrossEntropy(
        _ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int, target: Int,
        gradientScale: Float, biasGradient: UnsafeMutablePointer<Float>?
    ) -> Float {
        let ninf = V(repeating: -.infinity)
        // Lanes 0 and 2 of the first vector are excluded ids.
        var firstMask = SIMDMask<SIMD16<Int32>>(repeating: false)
        firstMask[0] = true
        firstMask[2] = true
        let full = count / 16 * 16
        let write = biasGradient != nil
        // Pass 1: maximum of row + bias; when training, row + bias is stored back (so pass 2
        // reads one stream), with the excluded ids at −∞. The first vector is peeled.
        var acc = ninf
        if full >= 16 {
            let x = (load(row) + load(bias)).replacing(with: ninf, where: firstMask)
            if write { store(x, row) }
            acc = x
        }
        var i = 16
        if write {
            while i < full {
                let x = load(row + i) + load(bias + i)
                store(x, row + i)
                acc = acc.replacing(with: x, where: x .> acc)
                i += 16
            }
        } else {
            while i < full {
                let x = load(row + i) + load(bias + i)
                acc = acc.replacing(with: x, where: x .> acc)
                i += 16
            }
        }
        var tail = V(repeating: 0)
        var tailMask = SIMDMask<SIMD16<Int32>>(repeating: false)
        if full < count {
            let n = count - full
            tail = loadPartial(row + full, count: n, fill: 0) + loadPartial(bias + full, count: n, fill: 0)
            for lane in n..<16 { tailMask[lane] = true }
            if full == 0 {
                tailMask[0] = true
                tailMask[2] = true
            }
            let x = tail.replacing(with: ninf, where: tailMask)
            acc = acc.replacing(with: x, where: x .> acc)
        }
        let m = acc.max()
        let mv = V(repeating: m)
        // Before pass 2 overwrites the row. In training pass 1 stored row + bias in the full
        // vectors (−∞ only at the excluded ids, which are never targets), not in the tail.
        let targetLogit = write && target < full ? row[target] : row[target] + bias[target]
        // Pass 2: exponentials and their sum.
        let zero = V(repeating: 0)
        var sumv = zero
        if full >= 16 {
            let x = write ? load(row) : load(row) + load(bias)
            let e = exp(x - mv).replacing(with: zero, where: firstMask)
            if write { store(e, row) }
            sumv = e
        }
        i = 16
        if write {
            while i < full {
                let e = exp(load(row + i) - mv)
                store(e, row + i)
                sumv += e
                i += 16
            }
        } else {
            while i < full {
                sumv += exp(load(row + i) + load(bias + i) - mv)
                i += 16
            }
        }
        if full < count {
            let e = exp(tail - mv).replacing(with: zero, where: tailMask)
            if write { storePartial(e, row + full, count: count - full) }
            sumv += e
        }
        let sum = sumv.sum()
        let loss = (m + Foundation.log(sum)) - targetLogit
        guard let biasGradient else { return loss }
        // Pass 3: the gradient, scaled, and the bias gradient.
        let c = V(repeating: gradientScale / sum)
        i = 0
        while i < full {
            let d = load(row + i) * c
            store(d, row + i)
            store(load(biasGradient + i) + d, biasGradient + i)
            i += 16
        }
        while i < count {
            let d = row[i] * c[0]
            row[i] = d
            biasGradient[i] += d
            i += 1
        }
        row[target] -= gradientScale
        biasGradient[target] -= gradientScale
        return loss
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
