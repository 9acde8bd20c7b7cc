/// Gives each update its weight in the sum.
///
/// ``Rule/examples`` is FedAvg's (McMahan et al. 2017): an update counts by the tokens it
/// trained on. ``Rule/uniform`` counts every phone once, which bounds one user's influence
/// (what user-level differential privacy needs).
public struct WeightStage: AggregationStage {
    /// How an update is weighted.
    public enum Rule: String, Sendable, CaseIterable {
        /// By its example count.
        case examples
        /// 1 for every update.
        case uniform
    }

    public var rule: Rule
    public var name: String { "weight" }

    public init(_ rule: Rule = .examples) { self.rule = rule }

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        switch rule {
        case .examples: update.weight = Float(update.exampleCount)
        case .uniform: update.weight = 1
        }
    }
}
