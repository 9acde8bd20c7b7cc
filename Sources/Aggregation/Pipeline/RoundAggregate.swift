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

    /// An empty aggregate for `round` over `parameterCount` parameters.
    public init(round: Int, parameterCount: Int) {
        self.round = round
        sum = WeightedSum(parameterCount: parameterCount)
    }
}
