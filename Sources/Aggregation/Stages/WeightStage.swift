/// Gives each update its weight in the sum.
///
/// ``Rule/examples`` is FedAvg's (McMahan et al. 2017): an update counts by the tokens it
/// trained on. ``Rule/uniform`` counts every phone once, and ``Rule/capped(_:)`` counts a
/// phone by its tokens up to a cap, scaled so that the cap weighs 1: both bound one user's
/// weight by 1, which is what user-level differential privacy needs (the noise is
/// calibrated to clip norm × the largest weight, McMahan et al. 2018).
public struct WeightStage: AggregationStage {
    /// How an update is weighted.
    public enum Rule: Sendable, Equatable {
        /// By its example count (unbounded).
        case examples
        /// 1 for every update.
        case uniform
        /// `min(examples, cap) / cap`: in (0, 1].
        case capped(Int)

        /// Parses the chain argument: `examples`, `uniform` or `capped:N` (N ≥ 1 tokens).
        public init?(argument: String) {
            switch argument {
            case "examples": self = .examples
            case "uniform": self = .uniform
            default:
                guard argument.hasPrefix("capped:"), let cap = Int(argument.dropFirst("capped:".count)), cap >= 1
                else { return nil }
                self = .capped(cap)
            }
        }

        /// The largest weight an update can get under this rule, or nil if unbounded.
        public var bound: Float? {
            switch self {
            case .examples: nil
            case .uniform, .capped: 1
            }
        }
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
        case .capped(let cap): update.weight = Float(min(update.exampleCount, cap)) / Float(cap)
        }
        aggregate.weightBound = rule.bound
    }
}
