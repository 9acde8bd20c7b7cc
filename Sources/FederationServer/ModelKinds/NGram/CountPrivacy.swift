import FederationProtocol
import LanguageModels
import Privacy

/// A differentially private n-gram run's mechanism, resolved from its configuration: each
/// phone's counts bounded to M distinct n-grams per order and c per n-gram (sensitivity
/// Δ = c·√(N·M)), Gaussian noise of standard deviation z·Δ on every summed count, and the
/// threshold τ a noisy count must reach to be released (the Gaussian sparse histogram
/// mechanism; accounting in ``SparseHistogramAccountant``).
struct CountPrivacy: Sendable, Equatable {
    let noiseMultiplier: Double
    let order: Int
    let bound: NGramCounts.ContributionBound
    /// Δ = c·√(N·M).
    let sensitivity: Double
    /// σ = z·Δ.
    let standardDeviation: Double
    /// τ, given or derived.
    let threshold: Int
    /// δ_τ: one round's chance of releasing any n-gram only one phone counted.
    let thresholdDelta: Double
    /// The run's total δ.
    let delta: Double
    /// The most rounds one phone can report in: the enforced limit, else the run's rounds.
    let participationBound: Int

    /// Whether the threshold leaves part of δ for the Gaussian part after the most
    /// participations a phone can have.
    var thresholdDeltaBudgetHolds: Bool { Double(participationBound) * thresholdDelta < delta }

    /// The run's DP counts, or nil when it has none (not an n-gram run, DP off), or when no
    /// threshold is given and none reaches the budget.
    init?(_ c: RunConfiguration) {
        guard case .ngram(let order) = c.model, let p = c.privacy, let b = p.countBounds,
            let result = try? Self.counts(order: order, b).account(
                noiseMultiplier: p.noiseMultiplier, participations: Self.participationBound(c),
                delta: p.effectiveDelta(devices: c.devices))
        else { return nil }
        self.noiseMultiplier = p.noiseMultiplier
        self.order = order
        bound = .init(maximumPerOrder: b.maximumNGramsPerOrder, maximumCount: b.maximumCount)
        sensitivity = b.sensitivity(order: order)
        standardDeviation = result.standardDeviation
        threshold = result.threshold
        thresholdDelta = result.roundThresholdDelta
        delta = p.effectiveDelta(devices: c.devices)
        participationBound = Self.participationBound(c)
    }

    /// The accountant's view of these bounds.
    static func counts(order: Int, _ b: PrivacyConfiguration.CountBounds) -> SparseHistogramAccountant.Counts {
        .init(
            order: order, maximumPerOrder: b.maximumNGramsPerOrder, maximumCount: b.maximumCount,
            threshold: b.threshold)
    }

    /// The most rounds one phone can report in.
    static func participationBound(_ c: RunConfiguration) -> Int {
        min(c.participation?.maximumParticipations ?? c.rounds, c.rounds)
    }

    /// The smallest τ whose δ_τ, over the most participations a phone can have, is at most
    /// a tenth of δ (the rest is the Gaussian part's).
    static func derivedThreshold(_ c: RunConfiguration, bounds b: PrivacyConfiguration.CountBounds) -> Int? {
        guard case .ngram(let order) = c.model, let p = c.privacy else { return nil }
        var unfixed = b
        unfixed.threshold = nil
        return try? counts(order: order, unfixed).account(
            noiseMultiplier: p.noiseMultiplier, participations: participationBound(c),
            delta: p.effectiveDelta(devices: c.devices)
        ).threshold
    }

    /// What a round's DP counts did, stored with the round (`count-noise`).
    struct Report: Codable, Sendable, Equatable {
        var noiseMultiplier: Double
        var sensitivity: Double
        var noiseStandardDeviation: Double
        var threshold: Int
        var maximumNGramsPerOrder: Int
        var maximumCount: Int
        /// Uploads the server had to cut to the bound (a phone bounds its own counts).
        var uploadsBoundedByServer: Int
        var summedNGrams: Int
        var releasedNGrams: Int
    }
}
