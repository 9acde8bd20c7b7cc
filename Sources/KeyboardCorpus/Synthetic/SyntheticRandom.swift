package import FederatedCore
internal import Foundation

/// Distributions the synthetic generator draws from, on top of ``SplitMix64``.
///
/// All draws consume a fixed, documented number of generator outputs only where that
/// matters for determinism (it always does: the same stream gives the same corpus).
extension SplitMix64 {
    /// A standard normal deviate (Box–Muller, one of the pair).
    package mutating func nextNormal() -> Double {
        let u1 = max(nextUnitDouble(), 0x1.0p-60)
        let u2 = nextUnitDouble()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// A Gamma(shape, 1) deviate (Marsaglia & Tsang 2000; shape < 1 by the boost `U^(1/a)`).
    package mutating func nextGamma(shape: Double) -> Double {
        precondition(shape > 0, "gamma shape must be positive")
        if shape < 1 {
            let boost = Foundation.pow(max(nextUnitDouble(), 0x1.0p-60), 1 / shape)
            return nextGamma(shape: shape + 1) * boost
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0
            var v = 0.0
            repeat {
                x = nextNormal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = nextUnitDouble()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if Foundation.log(max(u, 0x1.0p-60)) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }

    /// A Poisson(mean) deviate by inversion (exact; O(mean) steps, fine for message counts).
    package mutating func nextPoisson(mean: Double) -> Int {
        if mean <= 0 { return 0 }
        if mean > 500 {
            // Normal approximation far beyond any message rate a spec allows in practice.
            return max(0, Int((mean + mean.squareRoot() * nextNormal()).rounded()))
        }
        var k = 0
        var p = Foundation.exp(-mean)
        var cumulative = p
        let u = nextUnitDouble()
        while u > cumulative, k < 10_000 {
            k += 1
            p *= mean / Double(k)
            cumulative += p
        }
        return k
    }

    /// An index drawn from a cumulative weight table (`cumulative.last` is the total).
    package mutating func nextIndex(cumulative: [Double]) -> Int {
        let target = nextUnitDouble() * cumulative[cumulative.count - 1]
        var lo = 0
        var hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if cumulative[mid] > target { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

/// Normalised Zipf weights `(i + 1)^-s / Σ` for `i` in `0..<n`.
package func zipfWeights(count n: Int, exponent s: Double) -> [Double] {
    var w = (0..<n).map { Foundation.pow(Double($0 + 1), -s) }
    let total = w.reduce(0, +)
    for i in w.indices { w[i] /= total }
    return w
}

/// Running sums of `weights`.
package func cumulativeSums(_ weights: [Double]) -> [Double] {
    var running = 0.0
    return weights.map {
        running += $0
        return running
    }
}
