import Foundation

/// How the fractional-order series weighs its generalized binomial coefficients C(α, k).
///
/// For a fractional α the coefficients change sign for k ≥ ⌈α⌉ + 1. The two series of
/// Mironov, Talwar and Zhang (2019, Sec. 3.3) are exact with the signs. Google's dp_accounting
/// (`_compute_log_a_frac`, as TensorFlow Privacy before it) sums the absolute values, which
/// bounds A_α from above: still a valid privacy guarantee, slightly looser when q or 1/σ is
/// large (e.g. +0.09 % on log A at q = 0.01, σ = 1, α = 2.5), identical to 12 digits at
/// q ≈ 0.002, σ ≥ 0.8.
public enum FractionalSeries: String, Sendable, CaseIterable {
    /// |C(α, k)|, as dp_accounting sums them: the figures match dp_accounting's.
    case dpAccounting = "dp-accounting"
    /// The signed C(α, k): the exact A_α.
    case exact
}

/// The Poisson-sampled Gaussian mechanism: each record (here, each phone) is in a round's
/// batch independently with probability q, and the sum of the batch's clipped contributions
/// gets Gaussian noise of standard deviation σ · (clip norm).
///
/// Its Rényi DP at order α, for the add-or-remove-one neighbouring relation, is
/// ε(α) = log(A_α) / (α − 1) with A_α = E_{z∼μ0}[(μ(z) / μ0(z))^α], μ0 = N(0, σ²) and
/// μ = (1 − q) N(0, σ²) + q N(1, σ²) (Mironov, Talwar, Zhang 2019, arXiv:1908.10530).
public struct SampledGaussian: Sendable, Equatable {
    /// The probability q that one record takes part in a round, in [0, 1].
    public let samplingRate: Double
    /// σ: the noise standard deviation in units of the L2 sensitivity (the clip norm).
    public let noiseMultiplier: Double

    /// Longest either fractional-order series runs before the order is given up (ε(α) = ∞ and
    /// the order is left out of the minimum), as in dp_accounting.
    public static let maximumSeriesTerms = 1000

    public init(samplingRate: Double, noiseMultiplier: Double) throws(PrivacyError) {
        try Check.samplingRate(samplingRate)
        try Check.noiseMultiplier(noiseMultiplier)
        self.samplingRate = samplingRate
        self.noiseMultiplier = noiseMultiplier
    }

    /// The RDP ε(α) of one round at order α > 1. q = 0 gives 0; q = 1 gives the Gaussian
    /// mechanism's α / (2σ²) exactly; otherwise integer orders use the binomial sum and
    /// fractional orders the two series. ∞ when a fractional series does not converge
    /// within `maximumSeriesTerms` terms.
    public func rdp(order alpha: Double, series: FractionalSeries = .dpAccounting) throws(PrivacyError) -> Double {
        try Check.orders([alpha])
        let q = samplingRate
        if q == 0 { return 0 }
        if q == 1 { return alpha / (2 * noiseMultiplier * noiseMultiplier) }
        let logA =
            alpha == alpha.rounded() && alpha <= Double(Int.max / 2)
            ? logMomentBinomial(order: Int(alpha)) : logMomentSeries(order: alpha, series: series)
        return logA / (alpha - 1)
    }

    /// log A_α for integer α ≥ 2 and 0 < q < 1, by the exact binomial expansion of
    /// ((1 − q) + q · μ1/μ0)^α under μ0:
    ///
    ///     A_α = Σ_{k=0}^{α} C(α, k) q^k (1 − q)^(α − k) exp((k² − k) / (2σ²))
    ///
    /// summed as a one-pass log-sum-exp (the running maximum rescales the sum), no allocation.
    public func logMomentBinomial(order alpha: Int) -> Double {
        precondition(alpha >= 1, "binomial order must be at least 1")
        let q = samplingRate
        let logQ = Foundation.log(q)
        let log1mQ = Foundation.log1p(-q)
        let twoSigma2 = 2 * noiseMultiplier * noiseMultiplier
        let a = Double(alpha)
        let logGammaA1 = LogMath.logAbsGamma(a + 1)
        var maximum = -Double.infinity
        var scaledSum = 0.0  // Σ exp(term − maximum)
        for index in 0...alpha {
            let k = Double(index)
            let logBinomial = logGammaA1 - LogMath.logAbsGamma(k + 1) - LogMath.logAbsGamma(a - k + 1)
            let term = logBinomial + k * logQ + (a - k) * log1mQ + (k * k - k) / twoSigma2
            if term > maximum {
                scaledSum = scaledSum * Foundation.exp(maximum - term) + 1
                maximum = term
            } else {
                scaledSum += Foundation.exp(term - maximum)
            }
        }
        return maximum + Foundation.log(scaledSum)
    }

    /// log A_α for real α > 1 and 0 < q < 1, by the two series of Mironov, Talwar and Zhang
    /// (2019, Sec. 3.3). The integral of A_α splits at z0 = σ² log(1/q − 1) + 1/2, where
    /// q μ1 = (1 − q) μ0; below z0 the integrand expands in powers of q μ1 / ((1 − q) μ0),
    /// above it in powers of (1 − q) μ0 / (q μ1):
    ///
    ///     A_α = Σ_k C(α, k) q^k (1 − q)^(α − k) e^((k² − k)/(2σ²)) · ½ erfc((k − z0) / (√2 σ))
    ///         + Σ_k C(α, k) q^(α − k) (1 − q)^k e^((j² − j)/(2σ²)) · ½ erfc((z0 − j) / (√2 σ)),  j = α − k
    ///
    /// The sum stops, as dp_accounting's does, once both k-th terms are smaller than the
    /// previous ones and e^30 times smaller than the total; after `maximumSeriesTerms` terms
    /// without that it returns ∞. For an integer α the coefficients vanish for k > α and the
    /// sum stops there (the binomial sum is the faster route to the same value).
    public func logMomentSeries(order alpha: Double, series: FractionalSeries = .dpAccounting) -> Double {
        let q = samplingRate
        let sigma = noiseMultiplier
        let logQ = Foundation.log(q)
        let log1mQ = Foundation.log1p(-q)
        let twoSigma2 = 2 * sigma * sigma
        let sqrt2Sigma = 2.0.squareRoot() * sigma
        let z0 = sigma * sigma * Foundation.log(1 / q - 1) + 0.5
        let logHalf = Foundation.log(0.5)
        let isInteger = alpha == alpha.rounded()
        // C(α, k) < 0 exactly when k − ⌈α⌉ is odd and positive (α not an integer).
        let firstNegative = alpha.rounded(.up) + 1
        // Running log sums: positive and negative parts of the total, and each series'
        // magnitude for the stopping rule.
        var positive = -Double.infinity
        var negative = -Double.infinity
        var lastTerm0 = -Double.infinity
        var lastTerm1 = -Double.infinity
        for index in 0..<Self.maximumSeriesTerms {
            let k = Double(index)
            let j = alpha - k
            let logBinomial = LogMath.logAbsBinomial(alpha, k)
            if isInteger && logBinomial == -.infinity {
                return Self.signedTotal(positive, negative)
            }
            let term0 =
                logBinomial + k * logQ + j * log1mQ + (k * k - k) / twoSigma2 + logHalf
                + LogMath.logErfc((k - z0) / sqrt2Sigma)
            let term1 =
                logBinomial + j * logQ + k * log1mQ + (j * j - j) / twoSigma2 + logHalf
                + LogMath.logErfc((z0 - j) / sqrt2Sigma)
            let pair = LogMath.add(term0, term1)
            let isNegative =
                series == .exact && !isInteger && k >= firstNegative
                && Int(k - firstNegative).isMultiple(of: 2)
            if isNegative { negative = LogMath.add(negative, pair) } else { positive = LogMath.add(positive, pair) }
            let total = Self.signedTotal(positive, negative)
            if term0 < lastTerm0 && term1 < lastTerm1 && max(term0, term1) < total - 30 {
                return total
            }
            lastTerm0 = term0
            lastTerm1 = term1
        }
        return .infinity
    }

    /// log(e^positive − e^negative); A_α ≥ 1, so the difference is positive once the series
    /// has its first terms.
    private static func signedTotal(_ positive: Double, _ negative: Double) -> Double {
        if negative == -.infinity { return positive }
        return positive + Foundation.log1p(-Foundation.exp(negative - positive))
    }
}
