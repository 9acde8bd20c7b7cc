/// A round's accepted updates kept side by side for a robust aggregator, which needs them all
/// before it can decide: one contiguous buffer of `count × parameterCount` values that grows
/// (amortized doubling), not an array per update, with each update's device, weight and L2
/// norm beside it.
public struct UpdateBuffer: Sendable {
    /// Values per update.
    public private(set) var parameterCount: Int
    /// Update `i` is `values[i * parameterCount ..< (i + 1) * parameterCount]`, in arrival order.
    public private(set) var values: ContiguousArray<Float> = []
    /// The reporting devices, in arrival order.
    public private(set) var devices: [UInt32] = []
    /// The updates' weights (from the weight stage).
    public private(set) var weights: [Float] = []
    /// The updates' L2 norms.
    public private(set) var norms: [Double] = []

    /// An empty buffer of updates of `parameterCount` values.
    public init(parameterCount: Int = 0) {
        self.parameterCount = parameterCount
    }

    /// Updates held.
    public var count: Int { devices.count }

    /// Σ weight over the updates held.
    public var totalWeight: Double { weights.reduce(0) { $0 + Double($1) } }

    /// Appends one update (its values are copied).
    ///
    /// - Throws: ``AggregationError/Code/shapeMismatch`` if it has not the same length as those
    ///   before it in the round.
    public mutating func append(_ update: UnsafeBufferPointer<Float>, device: UInt32, weight: Float)
        throws(AggregationError)
    {
        if count == 0 { parameterCount = update.count }
        guard update.count == parameterCount else {
            throw AggregationError(
                .shapeMismatch,
                "device \(device)'s update has \(update.count) values; the round's others have \(parameterCount)")
        }
        values.append(contentsOf: update)
        devices.append(device)
        weights.append(weight)
        norms.append(VectorNorm.l2(update))
    }

    /// Appends one update given as an array (tests, tools).
    public mutating func append(_ update: [Float], device: UInt32, weight: Float = 1) throws(AggregationError) {
        let result: Result<Void, AggregationError> = update.withUnsafeBufferPointer { u in
            Result { () throws(AggregationError) in try append(u, device: device, weight: weight) }
        }
        try result.get()
    }

    /// Forgets every update and gives the memory back (a committed pipeline keeps no round's
    /// updates, so the next round's copy does not copy them).
    public mutating func release() {
        values = []
        devices = []
        weights = []
        norms = []
    }

}
