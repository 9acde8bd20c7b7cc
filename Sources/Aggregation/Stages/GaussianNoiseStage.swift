public import FederatedCore

/// The Gaussian mechanism of DP-FedAvg (McMahan et al. 2018): noise of standard deviation
/// z · C · w_max on every coordinate of the round's sum, where z is the noise multiplier, C
/// the clip norm the clip stage applied this round and w_max the weight rule's bound; then
/// the average divides by a fixed denominator (the cohort K times w_max), which does not
/// depend on who reported.
///
/// **Simulated cohorts.** With ``simulatedCohort`` K′ > K the noise is calibrated as if K′
/// phones had reported and the average were over K′ (the sum's noise scaled by K / K′, as
/// McMahan et al. 2018 and pfl-research's benchmarks do), so a small machine can show the
/// utility of a cohort of thousands. The accountant must then use K′.
///
/// **Placement.** ``Placement/central``: the server adds all the noise to the sum when the
/// round closes. ``Placement/distributed``: each of the round's updates carries a share of
/// variance σ² / n (n = ``distributedShares``, the fewest reports a kept round can have), so
/// the sum of r ≥ n shares has variance r/n · σ² ≥ σ²: what phones do under secure
/// aggregation, where nobody sees one update. The two give the same distribution of the
/// noisy sum when r = n (tested).
public struct GaussianNoiseStage: AggregationStage {
    /// Where the noise is added.
    public enum Placement: String, Sendable, Equatable, Codable, CaseIterable {
        case central
        case distributed
    }

    /// What the stage records about a round.
    public struct Report: Codable, Sendable, Equatable {
        public var noiseMultiplier: Double
        public var clipNorm: Double
        /// The standard deviation of the noise the round's sum carries (central), or each
        /// update's share (distributed).
        public var noiseStandardDeviation: Double
        public var placement: Placement
        public var denominator: Double
        public var simulatedCohort: Int?
    }

    public var name: String { "gaussian-noise" }
    public let noiseMultiplier: Double
    public let cohort: Int
    public let simulatedCohort: Int?
    public let placement: Placement
    /// The fewest shares a kept round sums (distributed placement).
    public let distributedShares: Int
    private let seed: UInt64
    private var round = 0
    private var shareIndex: UInt64 = 0

    /// A stage adding noise `noiseMultiplier` × C × w_max for rounds of `cohort` reports.
    public init(
        noiseMultiplier: Double, cohort: Int, simulatedCohort: Int? = nil, placement: Placement = .central,
        distributedShares: Int? = nil, seed: UInt64
    ) throws(AggregationError) {
        guard noiseMultiplier > 0, noiseMultiplier.isFinite else {
            throw AggregationError(.invalidStage, "the noise multiplier must be positive (got \(noiseMultiplier))")
        }
        guard cohort >= 1 else { throw AggregationError(.invalidStage, "the cohort must be at least 1") }
        if let k = simulatedCohort, k < cohort {
            throw AggregationError(
                .invalidStage, "a simulated cohort (\(k)) must be at least the real cohort (\(cohort))")
        }
        let shares = distributedShares ?? cohort
        guard shares >= 1 else { throw AggregationError(.invalidStage, "distributed noise needs at least 1 share") }
        self.noiseMultiplier = noiseMultiplier
        self.cohort = cohort
        self.simulatedCohort = simulatedCohort
        self.placement = placement
        self.distributedShares = shares
        self.seed = seed
    }

    /// The standard deviation of the noise on the sum, for clip norm `clipNorm` and weight
    /// bound `weightBound`: z · C · w_max · K / K′.
    public func sumStandardDeviation(clipNorm: Double, weightBound: Double) -> Double {
        let scale = simulatedCohort.map { Double(cohort) / Double($0) } ?? 1
        return noiseMultiplier * clipNorm * weightBound * scale
    }

    public mutating func beginRound(_ round: Int) {
        self.round = round
        shareIndex = 0
    }

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        guard placement == .distributed else { return }
        let (clipNorm, bound) = try Self.sensitivity(aggregate)
        // This update's share, added before the sum as the phone would (its weight scales the
        // delta in the sum, so the share is divided by the weight to land as σ/√n in the sum).
        guard update.weight > 0 else { return }
        let share =
            sumStandardDeviation(clipNorm: clipNorm, weightBound: bound) / Double(distributedShares).squareRoot()
        var rng = SplitMix64(seed: seed, streams: 0xD157, UInt64(round), UInt64(update.device))
        rng.addGaussianNoise(standardDeviation: share / Double(update.weight), to: update.values)
        shareIndex += 1
    }

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        let (clipNorm, bound) = try Self.sensitivity(aggregate)
        let sd = sumStandardDeviation(clipNorm: clipNorm, weightBound: bound)
        if placement == .central {
            var rng = SplitMix64(seed: seed, streams: 0xCE47, UInt64(round))
            aggregate.sum.addGaussianNoise(standardDeviation: sd, using: &rng)
        }
        let denominator = Double(cohort) * bound
        aggregate.denominator = denominator
        aggregate.reports.append(
            StageReport(
                stage: name,
                payload: Report(
                    noiseMultiplier: noiseMultiplier, clipNorm: clipNorm,
                    noiseStandardDeviation: placement == .central ? sd : sd / Double(distributedShares).squareRoot(),
                    placement: placement, denominator: denominator, simulatedCohort: simulatedCohort)))
    }

    /// The round's clip norm and weight bound, which a clip stage and a bounded weight rule
    /// before this stage must have set.
    private static func sensitivity(_ aggregate: RoundAggregate) throws(AggregationError) -> (Double, Double) {
        guard let bound = aggregate.weightBound else {
            throw AggregationError(
                .invalidStage,
                "gaussian-noise needs bounded weights before it (weight:uniform or weight:capped:N), not example counts"
            )
        }
        guard let clipNorm = aggregate.clipNorm else {
            throw AggregationError(.invalidStage, "gaussian-noise needs a clip stage before it")
        }
        return (clipNorm, Double(bound))
    }
}
