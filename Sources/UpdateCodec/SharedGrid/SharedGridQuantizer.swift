public import FederatedCore

/// Quantization on a grid a whole cohort shares, for secure aggregation: `bits`-bit codes
/// 0…2^b − 1 evenly spaced over [−C, C], so that the integer sum of the cohort's codes
/// dequantizes to the sum of their values.
///
/// Unlike the codec's per-chunk scales (``CodecScheme/Quantization/uniform(bits:rounding:)``),
/// the grid is the same for every phone: a masked sum of codes on different grids would mean
/// nothing. A phone clips its delta to L2 norm ≤ C first (``clipAndQuantize(_:into:dither:)``),
/// which puts every coordinate in [−C, C]. With stochastic rounding a code is ⌊(x + C)/Δ + u⌋
/// for Δ = 2C/(2^b − 1) and u uniform in [0, 1) (24 bits of the phone's seeded dither, as the
/// codec draws it), so the code is unbiased: E[−C + code·Δ] = x.
public struct SharedGridQuantizer: Sendable, Hashable {
    /// b, 1…8.
    public let bits: Int
    /// C: the grid spans [−C, C].
    public let range: Float
    /// Stochastic (unbiased) or nearest rounding.
    public let stochastic: Bool

    /// A grid of `bits`-bit codes over [−range, range].
    ///
    /// - Precondition: `bits` in 1…8, `range` finite and > 0.
    public init(bits: Int, range: Float, stochastic: Bool) {
        precondition((1...8).contains(bits), "shared-grid bits must be in 1…8")
        precondition(range.isFinite && range > 0, "the grid's range must be finite and > 0")
        self.bits = bits
        self.range = range
        self.stochastic = stochastic
    }

    /// The largest code, 2^b − 1.
    public var maximumCode: UInt32 { (1 << UInt32(bits)) - 1 }

    /// The distance between two grid points, 2C/(2^b − 1), in `Double`.
    public var step: Double { 2 * Double(range) / Double(maximumCode) }

    /// Scales `delta` down to L2 norm ≤ C (in place; a finite delta within the bound is left
    /// as it is) and writes one code per coordinate into `codes`.
    ///
    /// - Returns: whether the delta was scaled down.
    /// - Precondition: `codes.count == delta.count`.
    /// - Complexity: O(n), no allocation.
    @discardableResult
    public func clipAndQuantize(
        _ delta: UnsafeMutableBufferPointer<Float>, into codes: UnsafeMutableBufferPointer<UInt8>,
        dither: inout SplitMix64
    ) -> Bool {
        precondition(codes.count == delta.count, "one code per coordinate")
        var squares: Double = 0
        for x in delta { squares += Double(x) * Double(x) }
        let norm = squares.squareRoot()
        var clipped = false
        if norm > Double(range) {
            let scale = Float(Double(range) / norm)
            for i in delta.indices { delta[i] *= scale }
            clipped = true
        }
        let levels = Float(maximumCode)
        let inv = levels / (2 * range)
        let c = range
        if !stochastic {
            for i in delta.indices {
                let y = max(0, min((delta[i] + c) * inv + 0.5, levels))
                codes[i] = UInt8(truncatingIfNeeded: Int32(y))
            }
            return clipped
        }
        let unit: Float = 0x1.0p-24
        let n = delta.count
        var i = 0
        while i + 1 < n {
            let r = dither.next()
            let u0 = Float(UInt32(truncatingIfNeeded: r) & 0xFF_FFFF) * unit
            let u1 = Float(UInt32(truncatingIfNeeded: r >> 32) & 0xFF_FFFF) * unit
            let y0 = max(0, min((delta[i] + c) * inv + u0, levels))
            let y1 = max(0, min((delta[i + 1] + c) * inv + u1, levels))
            codes[i] = UInt8(truncatingIfNeeded: Int32(y0))
            codes[i + 1] = UInt8(truncatingIfNeeded: Int32(y1))
            i += 2
        }
        if i < n {
            let u = Float(UInt32(truncatingIfNeeded: dither.next()) & 0xFF_FFFF) * unit
            codes[i] = UInt8(truncatingIfNeeded: Int32(max(0, min((delta[i] + c) * inv + u, levels))))
        }
        return clipped
    }

    /// The sum of `contributors` phones' values from the integer sum of their codes:
    /// Σx_i = Σcode_i · Δ − contributors · C, computed in `Double` and rounded once to `Float`,
    /// so the same integer sum always gives the same floats.
    ///
    /// - Precondition: `out.count == sum.count`.
    /// - Complexity: O(n), no allocation.
    public func dequantizeSum(
        _ sum: UnsafeBufferPointer<UInt32>, contributors: Int, into out: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(out.count == sum.count, "one value per coordinate")
        let step = self.step
        let offset = Double(contributors) * Double(range)
        for i in sum.indices { out[i] = Float(Double(sum[i]) * step - offset) }
    }
}
