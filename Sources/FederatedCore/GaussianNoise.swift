import Foundation

extension SplitMix64 {
    /// A standard normal draw (mean 0, variance 1) by the Box–Muller transform on two
    /// uniform doubles; one of the pair is returned and the other discarded, so every call
    /// consumes exactly two 64-bit outputs (streams stay aligned whatever the caller does).
    public mutating func nextStandardNormal() -> Double {
        // u1 in (0, 1]: log(0) never happens.
        let u1 = 1 - nextUnitDouble()
        let u2 = nextUnitDouble()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Adds independent N(0, `standardDeviation`²) noise to every element of `values`.
    ///
    /// Draws in pairs (both Box–Muller outputs are used), so a million-parameter model costs
    /// half a million transforms. The noise is computed in `Double` and rounded once to
    /// `Float` when it is added.
    public mutating func addGaussianNoise(standardDeviation: Double, to values: UnsafeMutableBufferPointer<Float>) {
        guard standardDeviation > 0, !values.isEmpty else { return }
        let n = values.count
        var i = 0
        while i + 1 < n {
            let u1 = 1 - nextUnitDouble()
            let u2 = nextUnitDouble()
            let r = (-2 * Foundation.log(u1)).squareRoot() * standardDeviation
            let angle = 2 * Double.pi * u2
            values[i] += Float(r * Foundation.cos(angle))
            values[i + 1] += Float(r * Foundation.sin(angle))
            i += 2
        }
        if i < n {
            // The last of an odd count: the pair's first draw, computed as above.
            let u1 = 1 - nextUnitDouble()
            let u2 = nextUnitDouble()
            values[i] += Float(
                (-2 * Foundation.log(u1)).squareRoot() * standardDeviation * Foundation.cos(2 * Double.pi * u2))
        }
    }
}
