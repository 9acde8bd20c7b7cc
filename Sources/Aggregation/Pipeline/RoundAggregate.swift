/// What a round's stages build: the weighted sum of the accepted updates, and the
/// monitoring reports the stages leave for the round's record.
public struct RoundAggregate: Sendable {
    /// The round (1-based).
    public let round: Int
    /// Σ weight · delta over the updates summed so far, in arrival order.
    public var sum: WeightedSum
    /// Updates a stage left out of the sum (``ClientUpdate/isDiscarded``).
    public var discarded = 0
    /// One report per stage that has something to record for the round.
    public var reports: [StageReport] = []
    /// The L2 bound every summed update had this round, set by a clip stage (what the
    /// noise stage calibrates to); nil when nothing clipped.
    public var clipNorm: Double?
    /// The largest weight an update can carry, set by a bounded weight rule; nil when the
    /// weights are unbounded (FedAvg's example counts).
    public var weightBound: Float?
    /// A fixed denominator for the average, set by the noise stage: DP-FedAvg's
    /// fixed-denominator estimator (McMahan et al. 2018), which does not depend on who
    /// reported. nil: the sum's total weight.
    public var denominator: Double?
    /// What the clip stage saw (kept here, not in the stage, so shards' counts merge with
    /// their sums: a worker's partial carries them to the coordinator).
    public var clipCounts = ClipCounts()

    /// An empty aggregate for `round` over `parameterCount` parameters.
    public init(round: Int, parameterCount: Int) {
        self.round = round
        sum = WeightedSum(parameterCount: parameterCount)
    }
}

/// A round's clipping tally: the updates a clip stage saw, those it scaled down, and those
/// whose norm was within the bound (adaptive clipping's indicator).
public struct ClipCounts: Sendable, Equatable {
    public var updates = 0
    public var clipped = 0
    public var unclipped = 0

    public init(updates: Int = 0, clipped: Int = 0, unclipped: Int = 0) {
        self.updates = updates
        self.clipped = clipped
        self.unclipped = unclipped
    }

    /// Adds another shard's tally.
    public static func += (a: inout ClipCounts, b: ClipCounts) {
        a.updates += b.updates
        a.clipped += b.clipped
        a.unclipped += b.unclipped
    }
}
