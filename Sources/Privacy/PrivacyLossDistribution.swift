import Foundation

/// A privacy loss distribution on the grid {k·h}: mass `probabilities[i]` at loss
/// (`lowerIndex` + i)·h, and `infinityMass` at +∞. Its hockey-stick divergence is
/// δ(ε) = p(∞) + Σ_{l > ε} p(l) (1 − e^(ε − l)).
struct DiscretePLD: Sendable, Equatable {
    var interval: Double
    var lowerIndex: Int
    var probabilities: [Double]
    var infinityMass: Double

    /// The largest FFT (and grid) length the accountant uses; a finer grid is coarsened to fit.
    static let maximumLength = 1 << 22
    /// The probability mass the T-fold composition may truncate from its two tails together
    /// (Chernoff bounds); what it cuts from the upper tail is counted at +∞.
    static let tailMassTruncation = 1e-15

    /// The pessimistic "connect the dots" discretization (Doroshenko, Ghazi, Kamath, Kumar,
    /// Manurangsi 2022, arXiv:2207.04380, Algorithm 1) of a mechanism whose exact
    /// hockey-stick curve is `delta`: the discrete PLD on the grid indices `lower`...`upper` whose
    /// curve equals δ at every grid point and is linear in e^ε between them. The exact curve is
    /// convex in e^ε (a supremum of affine functions of it), so the chord lies above it: every
    /// δ(ε) of the result, and of its compositions, is an upper bound. Mass of losses below the
    /// grid sits at its lowest point, and δ(top) at +∞.
    static func connectingTheDots(
        interval h: Double, lower: Int, upper: Int, delta: (Double) -> Double
    ) -> DiscretePLD {
        precondition(upper >= lower)
        let count = upper - lower + 1
        var deltas = [Double](repeating: 0, count: count)
        var running = 1.0
        for i in 0..<count {
            // Clipped to be non-increasing against rounding.
            running = Swift.min(running, Swift.max(0, delta(Double(lower + i) * h)))
            deltas[i] = running
        }
        // On [ε_i, ε_{i+1}] the discrete curve is U_i − e^ε L_i with
        // L_i = (δ_i − δ_{i+1}) / (e^{ε_{i+1}} − e^{ε_i}); the mass at ε_j is e^{ε_j}(L_{j−1} − L_j),
        // with e^{ε_0} L_0 = (1 − δ_1) below the grid and L = 0 above it.
        let up = 1 / Foundation.expm1(h)  // e^{ε_i} / (e^{ε_{i+1}} − e^{ε_i})
        let down = 1 / -Foundation.expm1(-h)  // e^{ε_i} / (e^{ε_i} − e^{ε_{i−1}})
        var probabilities = [Double](repeating: 0, count: count)
        for i in 0..<count {
            let fromBelow = i == 0 ? 1 - deltas[0] : (deltas[i - 1] - deltas[i]) * down
            let toAbove = i == count - 1 ? 0 : (deltas[i] - deltas[i + 1]) * up
            probabilities[i] = Swift.max(0, fromBelow - toAbove)
        }
        return DiscretePLD(
            interval: h, lowerIndex: lower, probabilities: probabilities, infinityMass: deltas[count - 1])
    }

    /// The grid indices `connectingTheDots` needs to cover losses in [low, high].
    static func gridBounds(low: Double, high: Double, interval h: Double) -> (lower: Int, upper: Int) {
        (Int((low / h).rounded(.down)), Int((high / h).rounded(.up)))
    }

    /// The PLD of `rounds` independent runs: the T-fold convolution, by one FFT of the
    /// mass function raised to the T-th power and one inverse FFT, on a window that
    /// Chernoff bounds show holds all but `tailMassTruncation` of the mass. The upper tail cut
    /// off (a bound on it) is added to the mass at +∞; +∞ mass composes as 1 − (1 − p∞)^T.
    /// Nil when the window would be longer than `maximumLength`.
    func selfComposed(_ rounds: Int) -> DiscretePLD? {
        precondition(rounds >= 1)
        if rounds == 1 { return self }
        let n = probabilities.count
        let total = Double(rounds)
        let infinity = -Foundation.expm1(total * Foundation.log1p(-infinityMass))
        // Window [low, high] of Σ index over T draws (indices 0 ..< n each).
        var low = 0.0
        var high = total * Double(n - 1)
        var cutAbove = 0.0
        let logTwoOverTail = Foundation.log(2 / Self.tailMassTruncation)
        let logP = probabilities.map { $0 > 0 ? Foundation.log($0) : -Double.infinity }
        for exponent in stride(from: -4, through: 22, by: 2) {
            let perLoss = Foundation.pow(2, Double(exponent))
            for sign in [1.0, -1.0] {
                let lambda = sign * perLoss * interval  // per grid step
                // log Σ p_i e^{λ i}, the sub-probability's moment generating function.
                var peak = -Double.infinity
                for i in 0..<n { peak = Swift.max(peak, logP[i] + lambda * Double(i)) }
                var sum = 0.0
                for i in 0..<n where logP[i] > -Double.infinity {
                    sum += Foundation.exp(logP[i] + lambda * Double(i) - peak)
                }
                let bound = (total * (peak + Foundation.log(sum)) + logTwoOverTail) / lambda
                guard bound.isFinite else { continue }
                if sign > 0, bound < high {
                    high = bound.rounded(.up)
                    cutAbove = Self.tailMassTruncation / 2
                }
                if sign < 0, bound > low { low = bound.rounded(.down) }
            }
        }
        high = Swift.min(high, total * Double(n - 1))
        low = Swift.max(0, Swift.min(low, high))
        let windowLength = Int(high - low) + 1
        guard windowLength <= Self.maximumLength else { return nil }
        let size = FFT.length(atLeast: Swift.max(windowLength, n))
        guard size <= Self.maximumLength else { return nil }
        let fft = FFT(count: size)
        var re = [Double](repeating: 0, count: size)
        var im = [Double](repeating: 0, count: size)
        for i in 0..<n { re[i] = probabilities[i] }
        fft.transform(real: &re, imaginary: &im)
        for k in 0..<size {
            let magnitude = (re[k] * re[k] + im[k] * im[k]).squareRoot()
            if magnitude == 0 { continue }
            let power = Foundation.exp(total * Foundation.log(magnitude))
            let phase = total * Foundation.atan2(im[k], re[k])
            re[k] = power * Foundation.cos(phase)
            im[k] = power * Foundation.sin(phase)
        }
        fft.transform(real: &re, imaginary: &im, inverse: true)
        // Index s of the sum sits at s mod size.
        let first = Int(low)
        var composed = [Double](repeating: 0, count: windowLength)
        for offset in 0..<windowLength {
            composed[offset] = Swift.max(0, re[(first + offset) % size])
        }
        return DiscretePLD(
            interval: interval, lowerIndex: rounds * lowerIndex + first, probabilities: composed,
            infinityMass: Swift.min(1, infinity + cutAbove))
    }

    /// δ(ε) = p(∞) + Σ_{l > ε} p(l) (1 − e^(ε − l)).
    func delta(epsilon: Double) -> Double {
        var sum = infinityMass
        for i in stride(from: probabilities.count - 1, through: 0, by: -1) {
            let loss = Double(lowerIndex + i) * interval
            if loss <= epsilon { break }
            sum += probabilities[i] * -Foundation.expm1(epsilon - loss)
        }
        return Swift.min(1, sum)
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ δ; ∞ when p(∞) > δ. Scanning the grid down from the top,
    /// δ(ε) on [l_i, l_{i+1}) is U − e^ε L with U = p(∞) + Σ_{j > i} p_j and
    /// L = Σ_{j > i} p_j e^(−l_j); the first segment whose lower end is already above δ holds
    /// the answer, log((U − δ) / L).
    func epsilon(delta target: Double) -> Double {
        if infinityMass > target { return .infinity }
        var upperMass = infinityMass
        var logLowerMass = -Double.infinity  // log L, so that losses above 700 do not underflow e^(−l)
        for i in stride(from: probabilities.count - 1, through: 0, by: -1) {
            let loss = Double(lowerIndex + i) * interval
            if upperMass - Foundation.exp(loss + logLowerMass) > target {
                return Swift.max(0, Foundation.log(upperMass - target) - logLowerMass)
            }
            if loss <= 0 { return 0 }
            if probabilities[i] > 0 {
                upperMass += probabilities[i]
                logLowerMass = LogMath.add(logLowerMass, Foundation.log(probabilities[i]) - loss)
            }
        }
        if upperMass - Foundation.exp(logLowerMass) <= target { return 0 }
        return Swift.max(0, Foundation.log(upperMass - target) - logLowerMass)
    }
}

/// Exact hockey-stick curves of the (sub)sampled Gaussian mechanism.
enum GaussianProfile {
    /// log Φ(x), the standard normal CDF, accurate far into the lower tail.
    static func logNormalCDF(_ x: Double) -> Double {
        Foundation.log(0.5) + LogMath.logErfc(-x / 2.0.squareRoot())
    }

    /// The Gaussian mechanism with sensitivity / σ = μ (Balle and Wang 2018, Theorem 8):
    /// δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2), for every real ε.
    static func delta(epsilon: Double, mu: Double) -> Double {
        let a = -epsilon / mu + mu / 2
        let b = -epsilon / mu - mu / 2
        let first = Foundation.exp(logNormalCDF(a))
        let second = Foundation.exp(epsilon + logNormalCDF(b))
        return Swift.min(1, Swift.max(0, first - second))
    }

    /// "Remove" direction of the Poisson-subsampled Gaussian: P = (1 − q) N(0, σ²) + q N(−Δ, σ²)
    /// against Q = N(0, σ²). P − e^ε Q = q N(−Δ) − (e^ε − 1 + q) N(0), so for ε > log(1 − q)
    /// δ(ε) = q · δ_G(log(1 + (e^ε − 1)/q)), and 1 − e^ε below (all of P's losses are above).
    static func removeDelta(epsilon: Double, mu: Double, q: Double) -> Double {
        if q == 1 { return delta(epsilon: epsilon, mu: mu) }
        let floor = Foundation.log1p(-q)
        if epsilon <= floor { return -Foundation.expm1(epsilon) }
        let shifted =
            epsilon > 0
            ? epsilon + Foundation.log1p(-(1 - q) * Foundation.exp(-epsilon)) - Foundation.log(q)
            : Foundation.log1p(Foundation.expm1(epsilon) / q)
        return q * delta(epsilon: shifted, mu: mu)
    }

    /// "Add" direction: P = N(0, σ²) against Q = (1 − q) N(0, σ²) + q N(Δ, σ²).
    /// P − e^ε Q = (1 − e^ε(1 − q)) N(0) − e^ε q N(Δ), so for ε < −log(1 − q)
    /// δ(ε) = (1 − e^ε(1 − q)) · δ_G(log(q e^ε / (1 − e^ε(1 − q)))), and 0 above.
    static func addDelta(epsilon: Double, mu: Double, q: Double) -> Double {
        if q == 1 { return delta(epsilon: epsilon, mu: mu) }
        let ceiling = -Foundation.log1p(-q)
        if epsilon >= ceiling { return 0 }
        let rest = -Foundation.expm1(epsilon + Foundation.log1p(-q))  // 1 − e^ε (1 − q) > 0
        let shifted = Foundation.log(q) + epsilon - Foundation.log(rest)
        return rest * delta(epsilon: shifted, mu: mu)
    }

    /// The loss range [low, high] the "remove" PLD puts all but Φ(−z) of its mass in:
    /// losses log(1 − q + q e^(∓(zμ + μ²/2))) at the points z σ beyond either mean.
    /// The "add" PLD's range is its mirror image, [−high, −low].
    static func removeRange(mu: Double, q: Double, z: Double) -> (low: Double, high: Double) {
        let reach = z * mu + mu * mu / 2
        if q == 1 { return (-reach, reach) }
        let log1mQ = Foundation.log1p(-q)
        let logQ = Foundation.log(q)
        return (LogMath.add(log1mQ, logQ - reach), LogMath.add(log1mQ, logQ + reach))
    }
}
