import Foundation

/// Exact integer samplers for the distributed Skellam mechanism (docs/privacy.md,
/// "Distributed DP under secure aggregation").
///
/// Sk(μ) here is the paper's symmetric Skellam (Agarwal, Kairouz, Liu 2021, NeurIPS,
/// "The Skellam Mechanism for Differentially Private Federated Learning"): X = N₁ − N₂ with
/// N₁, N₂ independent Poisson(μ/2), so E X = 0, Var X = μ and P(X = k) = e^(−μ) I_|k|(μ).
/// Sums of independent Skellams are Skellam: Sk(a) + Sk(b) = Sk(a + b).
///
/// Poisson draws are exact (no normal approximation): Knuth's multiplication method below
/// λ = 10 and Hörmann's transformed rejection with squeeze (PTRS; W. Hörmann 1993, "The
/// transformed rejection method for generating Poisson random variables", Insurance:
/// Mathematics and Economics 12) from 10 up, whose acceptance test uses the log pmf through
/// Loader's saddle-point form (stirlerr and bd0, C. Loader 2000, "Fast and accurate
/// computation of binomial probabilities"), accurate for any λ where the naive
/// −λ + k log λ − log k! loses every digit by cancellation. Above 2^50 a draw is the sum of
/// Poisson(λ/j) draws (Poisson is closed under sums), so k stays far below 2^53, where every
/// integer is a Double. (A phone of a cifg-small run draws at λ ≈ 2·10¹⁴: one PTRS draw.)
public enum PoissonSampler {
    /// λ from which a draw splits into pieces (each below it).
    public static let splitThreshold = 0x1p50

    /// One Poisson(λ) draw, λ ≥ 0 and finite.
    public static func sample(mean lambda: Double, using rng: inout SplitMix64) -> Int64 {
        precondition(lambda >= 0 && lambda.isFinite, "a Poisson mean must be finite and ≥ 0 (got \(lambda))")
        if lambda == 0 { return 0 }
        if lambda < 10 { return multiplication(lambda, &rng) }
        if lambda < splitThreshold { return PTRS(lambda).sample(&rng) }
        let pieces = (lambda / splitThreshold).rounded(.up)
        let part = PTRS(lambda / pieces)
        var total: Int64 = 0
        for _ in 0..<Int(pieces) { total += part.sample(&rng) }
        return total
    }

    /// Knuth: the count of uniforms whose running product stays above e^(−λ).
    static func multiplication(_ lambda: Double, _ rng: inout SplitMix64) -> Int64 {
        let limit = Foundation.exp(-lambda)
        var k: Int64 = 0
        var product = rng.nextUnitDouble()
        while product > limit {
            k += 1
            product *= rng.nextUnitDouble()
        }
        return k
    }

    /// Hörmann's PTRS constants for one λ ≥ 10 (computed once for a vector of draws).
    struct PTRS {
        let lambda: Double
        let logLambda: Double
        let a: Double
        let b: Double
        let logInverseAlpha: Double
        let vr: Double

        init(_ lambda: Double) {
            let s = lambda.squareRoot()
            self.lambda = lambda
            logLambda = Foundation.log(lambda)
            b = 0.931 + 2.53 * s
            a = -0.059 + 0.02483 * b
            logInverseAlpha = Foundation.log(1.1239 + 1.1328 / (b - 3.4))
            vr = 0.9277 - 3.6224 / (b - 2)
        }

        func sample(_ rng: inout SplitMix64) -> Int64 {
            while true {
                let u = rng.nextUnitDouble() - 0.5
                let v = rng.nextUnitDouble()
                let us = 0.5 - Swift.abs(u)
                let kd = ((2 * a / us + b) * u + lambda + 0.43).rounded(.down)
                if us >= 0.07 && v <= vr { return Int64(kd) }
                if kd < 0 || (us < 0.013 && v > us) { continue }
                // us > 0 here (us = 0 gives kd = −∞ or is caught above).
                let lhs = Foundation.log(v) + logInverseAlpha - Foundation.log(a / (us * us) + b)
                if lhs <= PoissonSampler.logPMF(kd, lambda: lambda, logLambda: logLambda) { return Int64(kd) }
            }
        }
    }

    /// log P(Poisson(λ) = k) for an integer k ≥ 0, in Loader's form −stirlerr(k) − bd0(k, λ) −
    /// ½ log(2πk) (k ≥ 1), −λ at k = 0.
    public static func logPMF(_ k: Double, lambda: Double) -> Double {
        logPMF(k, lambda: lambda, logLambda: Foundation.log(lambda))
    }

    static func logPMF(_ k: Double, lambda: Double, logLambda: Double) -> Double {
        if k == 0 { return -lambda }
        if k < 0 { return -.infinity }
        return -stirlingError(k) - deviance(k, lambda) - 0.5 * Foundation.log(2 * Double.pi * k)
    }

    /// log k! − [(k + ½) log k − k + ½ log 2π], the Stirling series' remainder.
    static func stirlingError(_ n: Double) -> Double {
        if n <= 15 {
            let (lg, _) = Foundation.lgamma(n + 1)
            return lg - (n + 0.5) * Foundation.log(n) + n - 0.5 * Foundation.log(2 * Double.pi)
        }
        let s0 = 1.0 / 12
        let s1 = 1.0 / 360
        let s2 = 1.0 / 1260
        let s3 = 1.0 / 1680
        let s4 = 1.0 / 1188
        let nn = n * n
        return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n
    }

    /// bd0(x, m) = x log(x/m) + m − x, summed as a series near x = m (no cancellation).
    static func deviance(_ x: Double, _ m: Double) -> Double {
        guard Swift.abs(x - m) < 0.1 * (x + m) else { return x * Foundation.log(x / m) + m - x }
        var v = (x - m) / (x + m)
        var s = (x - m) * v
        var ej = 2 * x * v
        v *= v
        var j = 1.0
        while true {
            ej *= v
            let next = s + ej / (2 * j + 1)
            if next == s { return next }
            s = next
            j += 1
        }
    }
}

extension SplitMix64 {
    /// One Sk(μ) draw: Poisson(μ/2) − Poisson(μ/2), variance μ (``PoissonSampler``).
    public mutating func nextSkellam(variance mu: Double) -> Int64 {
        PoissonSampler.sample(mean: mu / 2, using: &self) - PoissonSampler.sample(mean: mu / 2, using: &self)
    }

    /// Adds an independent Sk(μ) draw to every word, modulo 2^32 (two's complement: a
    /// negative draw wraps), the integer-domain noise of the distributed Skellam mechanism.
    ///
    /// The PTRS constants are computed once for the whole vector; nothing is allocated.
    public mutating func addSkellamNoise(variance mu: Double, to words: UnsafeMutableBufferPointer<UInt32>) {
        precondition(mu >= 0 && mu.isFinite, "a Skellam variance must be finite and ≥ 0 (got \(mu))")
        guard mu > 0 else { return }
        let half = mu / 2
        if half >= 10 && half < PoissonSampler.splitThreshold {
            let ptrs = PoissonSampler.PTRS(half)
            for i in words.indices {
                let x = ptrs.sample(&self) - ptrs.sample(&self)
                words[i] &+= UInt32(truncatingIfNeeded: x)
            }
        } else {
            for i in words.indices {
                let x =
                    PoissonSampler.sample(mean: half, using: &self) - PoissonSampler.sample(mean: half, using: &self)
                words[i] &+= UInt32(truncatingIfNeeded: x)
            }
        }
    }
}

/// The integer encoding of the distributed Skellam mechanism in a ring Z_2^m: how far a
/// phone scales its clipped update before rounding (γ), how much noise each phone adds, and
/// how many ring bits a round's sum needs so that it wraps with negligible probability.
///
/// A phone's update x, clipped to ‖x‖₂ ≤ c, becomes v = round_s(γx) (stochastic rounding),
/// so every coordinate is in [−⌈γc⌉, ⌈γc⌉] and ‖v‖₂ < γc + √d. The aggregate noise is
/// Sk(μ) with μ = z²Δ₂², Δ₂ = γc + √d: its standard deviation is z times the integer
/// sensitivity, as z is the Gaussian mechanism's noise multiplier. Each of the round's
/// phones adds Sk(μ/t) (t the threshold), so a successful round (n ≥ t inputs) carries
/// Sk(nμ/t), at least Sk(μ).
///
/// **The ring bound.** With n ≤ K contributors the signed sum of one coordinate is
/// S = Σv + N with |Σv| ≤ K⌈γc⌉ and N ~ Sk(Kμ/t) at most. Sk(v) has the moment generating
/// function E e^(sN) = exp(v(cosh s − 1)), so by Chernoff P(|N| ≥ a) ≤ 2 exp(−I(a)) with
/// I(a) = a·asinh(a/v) − v(√(1 + (a/v)²) − 1). The tail a is the smallest integer with
/// 2d·e^(−I(a)) ≤ p over the round's d coordinates (p = ``wrapProbability``, a union bound),
/// and m is the smallest width with K⌈γc⌉ + a ≤ 2^(m−1): then every coordinate's S lies in
/// [−2^(m−1), 2^(m−1)) except with probability p, where two's complement mod 2^m is exact.
public struct SkellamRingDesign: Sendable, Equatable {
    /// The per-round chance that some coordinate's sum leaves the signed ring: 2^−40.
    public static let wrapProbability = 0x1p-40
    /// The widest ring implemented.
    public static let maximumRingBits = 32

    /// c, the L2 clip.
    public let clip: Double
    /// z: the aggregate noise's standard deviation over the integer L2 sensitivity.
    public let noiseMultiplier: Double
    /// d, coordinates per update.
    public let dimension: Int
    /// γ, integer units per unit of the update.
    public let scale: Double

    /// A design at a given γ.
    public init(clip: Double, noiseMultiplier: Double, dimension: Int, scale: Double) {
        precondition(clip > 0 && noiseMultiplier > 0 && dimension >= 1 && scale > 0, "positive parameters")
        self.clip = clip
        self.noiseMultiplier = noiseMultiplier
        self.dimension = dimension
        self.scale = scale
    }

    /// ⌈γc⌉, the largest magnitude of one rounded coordinate.
    public var coordinateBound: Double { (scale * clip).rounded(.up) }
    /// Δ₂ = γc + √d, the proven L2 bound on one phone's rounded vector (deterministic).
    public var l2Sensitivity: Double { scale * clip + Double(dimension).squareRoot() }
    /// Δ₁ = min(√d·Δ₂, Δ₂²) (an integer vector has ‖v‖₁ ≤ ‖v‖₂²).
    public var l1Sensitivity: Double {
        Swift.min(Double(dimension).squareRoot() * l2Sensitivity, l2Sensitivity * l2Sensitivity)
    }
    /// μ = z²Δ₂², the variance of the aggregate noise Sk(μ) a successful round carries at least.
    public var aggregateVariance: Double { noiseMultiplier * noiseMultiplier * l2Sensitivity * l2Sensitivity }
    /// μ/t, the variance each phone of a round with threshold t adds.
    public func phoneVariance(threshold t: Int) -> Double { aggregateVariance / Double(t) }

    /// The smallest integer a with 2d·e^(−I(a)) ≤ p for N ~ Sk(`variance`).
    public static func noiseTail(variance v: Double, dimension d: Int, probability p: Double = wrapProbability)
        -> Double
    {
        let target = Foundation.log(2 * Double(d) / p)
        func rate(_ a: Double) -> Double {
            let r = a / v
            return a * Foundation.asinh(r) - v * ((1 + r * r).squareRoot() - 1)
        }
        var high = Swift.max(1, v.squareRoot())
        while rate(high) < target { high *= 2 }
        var low = 0.0
        while high - low > 0.5 {
            let mid = (low + high) / 2
            if rate(mid) < target { low = mid } else { high = mid }
        }
        return high.rounded(.up)
    }

    /// The bits a round of `cohort` phones with threshold `threshold` needs (may exceed 32).
    public func ringBits(cohort: Int, threshold: Int) -> Int {
        let noise = Self.noiseTail(
            variance: Double(cohort) * phoneVariance(threshold: threshold), dimension: dimension)
        let bound = Double(cohort) * coordinateBound + noise
        // Smallest m with bound ≤ 2^(m − 1).
        var m = 2
        while Foundation.pow(2, Double(m - 1)) < bound { m += 1 }
        return m
    }

    /// The largest γ (to a relative 1e-9) whose rounds of `cohort` phones with threshold
    /// `threshold` fit in `ringBits`; nil when even γc = 1 does not fit.
    public static func fitted(
        clip: Double, noiseMultiplier: Double, dimension: Int, cohort: Int, threshold: Int,
        ringBits: Int = maximumRingBits
    ) -> SkellamRingDesign? {
        func fits(_ gamma: Double) -> Bool {
            SkellamRingDesign(clip: clip, noiseMultiplier: noiseMultiplier, dimension: dimension, scale: gamma)
                .ringBits(cohort: cohort, threshold: threshold) <= ringBits
        }
        var low = 1 / clip
        guard fits(low) else { return nil }
        var high = low * 2
        while fits(high) {
            low = high
            high *= 2
        }
        while high - low > 1e-9 * low {
            let mid = (low + high) / 2
            if fits(mid) { low = mid } else { high = mid }
        }
        return SkellamRingDesign(clip: clip, noiseMultiplier: noiseMultiplier, dimension: dimension, scale: low)
    }
}
