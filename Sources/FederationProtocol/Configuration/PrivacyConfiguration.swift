public import Aggregation

/// User-level differential privacy for a run (McMahan et al. 2018; Andrew et al. 2021;
/// Kairouz et al. 2021): how updates are bounded, where the noise goes, and on which
/// assumption the reported ε rests. Stored with the run (nil: no DP).
public struct PrivacyConfiguration: Codable, Sendable, Equatable {
    /// How the noisy aggregate becomes the model.
    public enum Mechanism: String, Codable, Sendable, Equatable, CaseIterable {
        /// DP-FedAvg: the Gaussian mechanism on every round's sum, then the server optimizer.
        case gaussian
        /// DP-FTRL: tree-aggregated noise on the prefix sums of the rounds' averages.
        case tree
        /// Distributed DP under secure aggregation (`--secure-aggregation` with `--dp-noise`):
        /// each phone adds Skellam noise to its rounded integer update before masking, so the
        /// secure sum carries the noise and the server adds none (Agarwal, Kairouz, Liu 2021).
        case skellam
    }

    /// What the reported ε assumes about how phones were chosen.
    public enum Accounting: String, Codable, Sendable, Equatable, CaseIterable {
        /// Only what the fleet enforces and the store records: a phone's participations
        /// (the composed Gaussian mechanism, no amplification). The default: true for any
        /// selection.
        case participation
        /// Poisson sampling at q = cohort / devices (amplification). A kbd-sim fleet does
        /// not select that way; the figure assumes it and every output says so.
        case poisson
        /// Tree aggregation's zCDP with the fleet's minimum separation and maximum
        /// participations (DP-FTRL).
        case tree
    }

    /// The noise multiplier z: the sum's noise standard deviation over its sensitivity
    /// (with adaptive clipping, the total for the update and the clipped count together).
    public var noiseMultiplier: Double
    /// The clip norm C (the initial one under adaptive clipping).
    public var clipNorm: Double
    /// Clip each tensor to C·√(n_l/n) instead of the whole update to C.
    public var perLayerClipping: Bool = false
    /// Adaptive clipping's target quantile γ; nil: a fixed clip norm.
    public var adaptiveQuantile: Double?
    /// Adaptive clipping's geometric rate η.
    public var adaptiveLearningRate: Double = 0.2
    /// Adaptive clipping's count noise σ_b; nil: cohort / 20 (Andrew et al.'s choice).
    public var adaptiveCountNoise: Double?
    /// How updates are weighted: `uniform` or `capped:N` (tokens).
    public var weighting: String = "uniform"
    /// Where the noise is added.
    public var placement: GaussianNoiseStage.Placement = .central
    /// The mechanism.
    public var mechanism: Mechanism = .gaussian
    /// DP-FTRL's server learning rate.
    public var treeLearningRate: Double = 1
    /// Calibrate the noise as if this many phones reported (K′ ≥ cohort); nil: the cohort.
    public var simulatedCohort: Int?
    /// δ; nil: ``defaultDelta(devices:)``.
    public var delta: Double?
    /// What the reported ε assumes.
    public var accounting: Accounting = .participation
    /// Differentially private n-gram counts (the Kneser-Ney models): what one phone may
    /// contribute to a round and the release threshold; nil for the neural models. For
    /// these runs ``clipNorm`` holds the contribution's L2 sensitivity c·√(N·M).
    public var countBounds: CountBounds?

    /// What one phone may contribute to one round of a differentially private n-gram run.
    public struct CountBounds: Codable, Sendable, Equatable {
        /// M: the most distinct n-grams of each order (the most frequent are kept).
        public var maximumNGramsPerOrder: Int
        /// c: the most one n-gram is counted.
        public var maximumCount: Int
        /// τ: a noisy summed count is released only from this value up; nil: the smallest τ
        /// that spends at most a tenth of δ on n-grams only one phone counted.
        public var threshold: Int?

        public init(maximumNGramsPerOrder: Int, maximumCount: Int = 1, threshold: Int? = nil) {
            self.maximumNGramsPerOrder = maximumNGramsPerOrder
            self.maximumCount = maximumCount
            self.threshold = threshold
        }

        /// Δ = c·√(N·M), the L2 sensitivity of one phone's bounded counts of order `order`.
        public func sensitivity(order: Int) -> Double {
            Double(maximumCount) * Double(order * maximumNGramsPerOrder).squareRoot()
        }
    }

    public init(noiseMultiplier: Double, clipNorm: Double) {
        self.noiseMultiplier = noiseMultiplier
        self.clipNorm = clipNorm
    }

    /// The default δ for a population of `devices`: the largest power of ten at most
    /// 1 / (10 · devices), e.g. 1e-7 for a million phones (δ well below 1/population, so that
    /// "leak one user's data outright" is not within the guarantee).
    public static func defaultDelta(devices: Int) -> Double {
        let exponent = (Double(10 * max(1, devices))).log10Ceiling
        return pow10(-exponent)
    }

    /// δ with its default applied.
    public func effectiveDelta(devices: Int) -> Double { delta ?? Self.defaultDelta(devices: devices) }

    /// Adaptive clipping's count noise with its default applied.
    public func effectiveCountNoise(cohort: Int) -> Double { adaptiveCountNoise ?? Double(cohort) / 20 }

    /// The noise multiplier the update's sum gets. With adaptive clipping part of the budget
    /// goes to the clipped count: z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) (Andrew et al. 2021, Thm 1),
    /// so that the two Gaussian mechanisms together are worth one of multiplier z.
    public func updateNoiseMultiplier(cohort: Int) -> Double? {
        guard adaptiveQuantile != nil else { return noiseMultiplier }
        let countTerm = 1 / (4 * effectiveCountNoise(cohort: cohort) * effectiveCountNoise(cohort: cohort))
        let rest = 1 / (noiseMultiplier * noiseMultiplier) - countTerm
        guard rest > 0 else { return nil }
        return 1 / rest.squareRoot()
    }

    /// The cohort the noise and the accountant assume (K′, or K).
    public func accountedCohort(cohort: Int) -> Int { simulatedCohort ?? cohort }
}

extension Double {
    /// ⌈log₁₀ x⌉ for x ≥ 1, by repeated multiplication (exact for powers of ten).
    fileprivate var log10Ceiling: Int {
        var e = 0
        var p = 1.0
        while p < self {
            p *= 10
            e += 1
        }
        return e
    }
}

/// 10^(−e) as the nearest double to the decimal (`1e-7`, not 0.1⁷).
private func pow10(_ e: Int) -> Double { Double("1e\(e)")! }

/// Limits the fleet enforces on how often one phone takes part (what DP-FTRL's accounting
/// and the default accounting rest on): selection skips phones that are not yet allowed,
/// and the server refuses a round that selects one.
public struct ParticipationLimits: Codable, Sendable, Equatable {
    /// The most rounds one phone may report in (nil: no limit).
    public var maximumParticipations: Int?
    /// The fewest rounds between two reports of one phone (nil or 1: none); a phone that
    /// reported in round r may report again from round r + separation.
    public var minimumSeparation: Int?

    public init(maximumParticipations: Int? = nil, minimumSeparation: Int? = nil) {
        self.maximumParticipations = maximumParticipations
        self.minimumSeparation = minimumSeparation
    }

    /// Whether a phone that reported `count` times, last in round `last` (0: never), may
    /// report in `round`.
    public func allows(count: Int, last: Int, round: Int) -> Bool {
        if let m = maximumParticipations, count >= m { return false }
        if let b = minimumSeparation, last > 0, round - last < b { return false }
        return true
    }
}
