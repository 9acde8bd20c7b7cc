import Foundation

/// The privacy of differentially private n-gram counts: the Gaussian sparse histogram
/// mechanism (noise on the counts that are present, then a threshold), composed over a
/// phone's participations.
///
/// One round releases, for every n-gram the round's cohort counted, its summed count plus
/// N(0, σ²) noise, rounded to an integer, if that is at least the threshold τ. A phone
/// contributes at most `keys` distinct n-grams, each with a count of at most `maximumCount`
/// (c), so its contribution has L2 norm at most Δ = c·√keys and σ = z·Δ.
///
/// Against the same round without that phone, the n-grams others also counted see a
/// Gaussian mechanism of multiplier z; the ones only this phone counted are released with
/// probability at most
///
///     δ_τ = 1 − Φ((τ − ½ − c) / σ)^keys
///
/// (each is released iff c' + noise ≥ τ − ½ for its count c' ≤ c, independently). Over k
/// participations the k Gaussian mechanisms compose to μ = √k / z (exact, Dong, Roth and Su
/// 2019), and the event that some phone-only n-gram is ever released has probability at most
/// k·δ_τ. Conditioning on that event not happening gives the guarantee
///
///     (ε_G(δ_G) + ln(1 / (1 − k·δ_τ)),  δ_G + k·δ_τ)
///
/// where ε_G(δ_G) is the μ-GDP curve's ε at δ_G: the k·δ_τ term is the mass of the event
/// (adding the phone), and the logarithm the renormalisation of what is left (removing
/// it). This is the classical analysis of Gaussian thresholding (Korolova et al. 2009;
/// Wilson et al. 2020); Wilkins et al. (2024) show it is an upper bound on the exact one.
public enum SparseHistogramAccountant {
    /// δ_τ: the probability that one round releases any of the n-grams only this phone
    /// counted, for `keys` such n-grams of count at most `maximumCount`, noise
    /// `standardDeviation` and integer threshold `threshold` on the rounded noisy count.
    public static func thresholdDelta(threshold: Int, maximumCount: Int, keys: Int, standardDeviation: Double)
        -> Double
    {
        precondition(standardDeviation > 0 && keys >= 0 && maximumCount >= 0, "invalid sparse-histogram settings")
        guard keys > 0 else { return 0 }
        // q = P(Z ≥ t) for Z ~ N(0, 1): one n-gram's release probability.
        let t = (Double(threshold) - 0.5 - Double(maximumCount)) / standardDeviation
        let q = 0.5 * Foundation.erfc(t / 2.0.squareRoot())
        // 1 − (1 − q)^keys, without cancellation when q is tiny.
        return -Foundation.expm1(Double(keys) * Foundation.log1p(-q))
    }

    /// The smallest threshold τ ≥ 1 whose δ_τ is at most `delta`, or nil when none up to
    /// `limit` is.
    public static func threshold(
        forDelta delta: Double, maximumCount: Int, keys: Int, standardDeviation: Double, limit: Int = 1 << 30
    ) -> Int? {
        precondition(delta > 0 && delta < 1, "delta must be in (0, 1)")
        func ok(_ tau: Int) -> Bool {
            thresholdDelta(threshold: tau, maximumCount: maximumCount, keys: keys, standardDeviation: standardDeviation)
                <= delta
        }
        if ok(1) { return 1 }
        guard ok(limit) else { return nil }
        // δ_τ falls as τ grows: bisect on (bad, good].
        var bad = 1
        var good = limit
        while good - bad > 1 {
            let mid = bad + (good - bad) / 2
            if ok(mid) { good = mid } else { bad = mid }
        }
        return good
    }

    /// A phone's guarantee after `participations` rounds, at total δ `delta`.
    public struct Guarantee: Sendable, Equatable {
        /// ε at the total δ.
        public var epsilon: Double
        /// The Gaussian part's δ_G (the total minus k·δ_τ).
        public var gaussianDelta: Double
        /// k·δ_τ: the chance that some n-gram only this phone counted was ever released.
        public var thresholdDelta: Double
    }

    /// The guarantee of `participations` rounds of noise multiplier `noiseMultiplier` with
    /// per-round δ_τ `thresholdDelta`, at total δ `delta`; nil when k·δ_τ leaves nothing of δ
    /// for the Gaussian part (raise the threshold).
    public static func guarantee(
        noiseMultiplier: Double, participations: Int, thresholdDelta: Double, delta: Double
    ) throws(PrivacyError) -> Guarantee? {
        try Check.noiseMultiplier(noiseMultiplier)
        try Check.delta(delta)
        guard participations >= 0 else {
            throw PrivacyError(.invalidRounds, "participations must be 0 or more (got \(participations))")
        }
        guard participations > 0 else { return Guarantee(epsilon: 0, gaussianDelta: delta, thresholdDelta: 0) }
        let spent = Double(participations) * thresholdDelta
        let gaussianDelta = delta - spent
        guard spent < 1, gaussianDelta > 0 else { return nil }
        let mu = Double(participations).squareRoot() / noiseMultiplier
        let epsilon = GaussianMechanismAccountant.epsilon(delta: gaussianDelta, mu: mu) - Foundation.log1p(-spent)
        return Guarantee(epsilon: epsilon, gaussianDelta: gaussianDelta, thresholdDelta: spent)
    }
}

extension SparseHistogramAccountant {
    /// Differentially private n-gram counts as a run configures them: order N, at most M
    /// n-grams per order and c per n-gram from each phone a round, noise multiplier z (noise
    /// standard deviation z·c·√(N·M)), threshold τ (nil: the smallest whose δ_τ over
    /// `participations` rounds is at most a tenth of δ).
    public struct Counts: Sendable, Equatable {
        public var order: Int
        public var maximumPerOrder: Int
        public var maximumCount: Int
        public var threshold: Int?

        public init(order: Int, maximumPerOrder: Int, maximumCount: Int = 1, threshold: Int? = nil) {
            self.order = order
            self.maximumPerOrder = maximumPerOrder
            self.maximumCount = maximumCount
            self.threshold = threshold
        }

        /// Δ = c·√(N·M).
        public var sensitivity: Double { Double(maximumCount) * Double(order * maximumPerOrder).squareRoot() }

        /// What a phone that reported in `participations` rounds has, at total δ `delta`.
        public struct Result: Sendable, Equatable {
            public var standardDeviation: Double
            public var threshold: Int
            /// One round's δ_τ.
            public var roundThresholdDelta: Double
            /// nil when k·δ_τ leaves none of δ for the Gaussian part.
            public var guarantee: Guarantee?
        }

        /// The guarantee at noise multiplier `noiseMultiplier`.
        public func account(noiseMultiplier z: Double, participations k: Int, delta: Double) throws(PrivacyError)
            -> Result
        {
            try Check.noiseMultiplier(z)
            try Check.delta(delta)
            guard (1...5).contains(order), maximumPerOrder >= 1, maximumCount >= 1, threshold.map({ $0 >= 1 }) ?? true
            else {
                throw PrivacyError(
                    .invalidParticipation,
                    "n-gram counts need an order in 1…5, at least 1 n-gram per order, a count cap and a threshold of at least 1"
                )
            }
            guard k >= 1 else { throw PrivacyError(.invalidRounds, "participations must be at least 1 (got \(k))") }
            let sigma = z * sensitivity
            let keys = order * maximumPerOrder
            guard
                let tau = threshold
                    ?? SparseHistogramAccountant.threshold(
                        forDelta: delta / (10 * Double(k)), maximumCount: maximumCount, keys: keys,
                        standardDeviation: sigma)
            else {
                throw PrivacyError(.noiseSearchFailed, "no threshold up to 2^30 spends only δ/10 at this noise")
            }
            let roundDelta = SparseHistogramAccountant.thresholdDelta(
                threshold: tau, maximumCount: maximumCount, keys: keys, standardDeviation: sigma)
            let g = try SparseHistogramAccountant.guarantee(
                noiseMultiplier: z, participations: k, thresholdDelta: roundDelta, delta: delta)
            return Result(standardDeviation: sigma, threshold: tau, roundThresholdDelta: roundDelta, guarantee: g)
        }

        /// The smallest noise multiplier in [0.001, 10000] whose ε is at most `targetEpsilon`
        /// (bisection to a relative 1e-6), with the threshold derived at each step unless
        /// fixed.
        public func noiseMultiplier(targetEpsilon: Double, participations k: Int, delta: Double) throws(PrivacyError)
            -> (noiseMultiplier: Double, result: Result)
        {
            try Check.epsilon(targetEpsilon)
            func meets(_ z: Double) throws(PrivacyError) -> Bool {
                guard let g = try account(noiseMultiplier: z, participations: k, delta: delta).guarantee else {
                    return false
                }
                return g.epsilon <= targetEpsilon
            }
            var high = 1.0
            while try !meets(high) {
                high *= 2
                if high > 10_000 {
                    throw PrivacyError(
                        .noiseSearchFailed,
                        "no noise multiplier up to 10000 reaches ε ≤ \(targetEpsilon) at δ = \(delta) over \(k) participations"
                            + (threshold != nil ? " with the fixed threshold; leave --threshold out" : ""))
                }
            }
            var low = high / 2
            while low > 0.001, try meets(low) { low /= 2 }
            while high - low > 1e-6 * high {
                let mid = (low + high) / 2
                if try meets(mid) { high = mid } else { low = mid }
            }
            return (high, try account(noiseMultiplier: high, participations: k, delta: delta))
        }
    }
}
