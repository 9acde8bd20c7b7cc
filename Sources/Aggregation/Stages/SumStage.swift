/// Adds each update, times its weight, to the round's ``WeightedSum``, in arrival order.
public struct SumStage: AggregationStage {
    public var name: String { "sum" }

    public init() {}

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        aggregate.sum.add(UnsafeBufferPointer(update.values), weight: update.weight)
    }
}
