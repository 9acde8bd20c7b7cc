/// A running example-weighted sum of model deltas: the server side of FedAvg's average.
///
/// Updates are added in the order they are reported and the sum is kept in `Double`, so
/// the average of the same updates in the same order is bit-identical run to run, and
/// does not lose precision when thousands of small deltas are summed. The weight of an
/// update is its example count (tokens trained on), as in McMahan et al. 2017.
public struct WeightedMean: Sendable {
    /// Σ weight · delta, per parameter.
    public private(set) var weightedSum: [Double]
    /// Σ weight.
    public private(set) var totalWeight: Double = 0
    /// How many updates were added.
    public private(set) var count = 0

    /// An empty sum over `parameterCount` parameters.
    public init(parameterCount: Int) {
        precondition(parameterCount >= 0, "parameterCount must not be negative")
        weightedSum = [Double](repeating: 0, count: parameterCount)
    }

    /// The number of parameters.
    public var parameterCount: Int { weightedSum.count }

    /// Adds `weight × delta`.
    ///
    /// - Precondition: `delta.count == parameterCount`, `weight` finite and positive. The
    ///   codec's decoder rejects wrong lengths and non-finite values before they get here.
    public mutating func add(_ delta: UnsafeBufferPointer<Float>, weight: Double) {
        precondition(
            delta.count == weightedSum.count, "delta has \(delta.count) parameters, the sum \(weightedSum.count)")
        precondition(weight.isFinite && weight > 0, "an update's weight must be finite and positive")
        weightedSum.withUnsafeMutableBufferPointer { sum in
            for i in 0..<sum.count { sum[i] += weight * Double(delta[i]) }
        }
        totalWeight += weight
        count += 1
    }

    /// Adds `weight × delta`.
    public mutating func add(_ delta: [Float], weight: Double) {
        delta.withUnsafeBufferPointer { add($0, weight: weight) }
    }

    /// Merges another partial sum (e.g. one shard's), in the caller's order.
    public mutating func merge(_ other: WeightedMean) {
        precondition(other.parameterCount == parameterCount, "cannot merge sums of different sizes")
        weightedSum.withUnsafeMutableBufferPointer { sum in
            other.weightedSum.withUnsafeBufferPointer { o in
                for i in 0..<sum.count { sum[i] += o[i] }
            }
        }
        totalWeight += other.totalWeight
        count += other.count
    }

    /// The weighted average delta, or nil when nothing was added.
    public func average() -> [Float]? {
        guard totalWeight > 0 else { return nil }
        let scale = 1 / totalWeight
        return weightedSum.map { Float($0 * scale) }
    }
}
