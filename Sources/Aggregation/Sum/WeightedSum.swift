public import FederatedCore

/// The round's running weighted sum of client deltas: the one place a server sums updates.
///
/// `sum[i] = fma(weight, delta[i], sum[i])` for each update in the order it is added, in
/// `Float`, 16 lanes at a time. Each element sees the same fused multiply-add whatever the
/// lane grouping, so the same updates in the same order give bit-identical sums run to run,
/// in-process or over HTTP. The weights' total is kept in `Double`.
///
/// Partial sums of disjoint shards can be merged (``merge(_:)``) in a fixed order, as a
/// master aggregator sums its aggregators' partial sums (Bonawitz et al. 2019).
public struct WeightedSum: Sendable {
    /// Σ weight · delta, per parameter.
    public private(set) var weightedSum: ContiguousArray<Float>
    /// Σ weight.
    public private(set) var totalWeight: Double = 0
    /// How many updates were added.
    public private(set) var count = 0

    /// An empty sum over `parameterCount` parameters.
    public init(parameterCount: Int) {
        precondition(parameterCount >= 0, "parameterCount must not be negative")
        weightedSum = ContiguousArray(repeating: 0, count: parameterCount)
    }

    /// A partial sum received from elsewhere (a worker's shard): its values, weight total and count.
    ///
    /// - Precondition: `totalWeight` finite and ≥ 0, `count` ≥ 0.
    public init(weightedSum: [Float], totalWeight: Double, count: Int) {
        precondition(totalWeight.isFinite && totalWeight >= 0 && count >= 0, "a partial sum's totals must be valid")
        self.weightedSum = ContiguousArray(weightedSum)
        self.totalWeight = totalWeight
        self.count = count
    }

    /// The number of parameters.
    public var parameterCount: Int { weightedSum.count }

    /// Adds `weight × delta`.
    ///
    /// - Precondition: `delta.count == parameterCount`; `weight` finite and ≥ 0. The codec's
    ///   decoder rejects wrong lengths and non-finite values before they get here.
    /// - Complexity: O(n), no allocation.
    public mutating func add(_ delta: UnsafeBufferPointer<Float>, weight: Float) {
        precondition(
            delta.count == weightedSum.count, "delta has \(delta.count) parameters, the sum \(weightedSum.count)")
        precondition(weight.isFinite && weight >= 0, "an update's weight must be finite and >= 0")
        weightedSum.withUnsafeMutableBufferPointer { sum in
            Self.addProduct(weight, delta, into: sum.baseAddress!)
        }
        totalWeight += Double(weight)
        count += 1
    }

    /// Adds `weight × delta`.
    public mutating func add(_ delta: [Float], weight: Float) {
        delta.withUnsafeBufferPointer { add($0, weight: weight) }
    }

    /// Adds a sum computed elsewhere: Σ weight · delta of `count` updates whose weights total
    /// `totalWeight` (secure aggregation's unmasked sum, which the server only ever sees whole).
    ///
    /// - Precondition: `partial.count == parameterCount`; `totalWeight` finite and ≥ 0.
    /// - Complexity: O(n), no allocation.
    public mutating func addPartialSum(_ partial: UnsafeBufferPointer<Float>, totalWeight weight: Double, count: Int) {
        precondition(
            partial.count == weightedSum.count,
            "the partial sum has \(partial.count) parameters, the sum \(weightedSum.count)"
        )
        precondition(weight.isFinite && weight >= 0 && count >= 0, "a partial sum's weight and count must be ≥ 0")
        weightedSum.withUnsafeMutableBufferPointer { sum in
            for i in 0..<sum.count { sum[i] += partial[i] }
        }
        totalWeight += weight
        self.count += count
    }

    /// Merges another partial sum (one shard's), in the caller's order.
    public mutating func merge(_ other: WeightedSum) {
        precondition(other.parameterCount == parameterCount, "cannot merge sums of different sizes")
        weightedSum.withUnsafeMutableBufferPointer { sum in
            other.weightedSum.withUnsafeBufferPointer { o in
                for i in 0..<sum.count { sum[i] += o[i] }
            }
        }
        totalWeight += other.totalWeight
        count += other.count
    }

    /// The weighted average Σ w·u / Σ w (each sum times `Float(1 / Σ w)`), or nil when
    /// nothing with a positive weight was added.
    public func average() -> [Float]? {
        guard totalWeight > 0 else { return nil }
        let scale = Float(1 / totalWeight)
        return weightedSum.map { $0 * scale }
    }

    /// Σ w·u / `denominator` (each sum times `Float(1 / denominator)`): the fixed-denominator
    /// average, defined even when no update arrived.
    ///
    /// - Precondition: `denominator > 0`.
    public func average(dividingBy denominator: Double) -> [Float] {
        precondition(denominator > 0, "a fixed denominator must be positive")
        let scale = Float(1 / denominator)
        return weightedSum.map { $0 * scale }
    }

    /// Adds N(0, `standardDeviation`²) to every parameter of the sum (the Gaussian
    /// mechanism's noise), from `rng`.
    public mutating func addGaussianNoise(standardDeviation: Double, using rng: inout SplitMix64) {
        weightedSum.withUnsafeMutableBufferPointer {
            rng.addGaussianNoise(standardDeviation: standardDeviation, to: $0)
        }
    }

    /// Runs `body` on the sum's storage (a stage that computes the aggregate another way,
    /// a robust aggregator, writes it here).
    public mutating func withUnsafeMutableSum<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R
    {
        try weightedSum.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Clears the sum for the next round, keeping its storage.
    public mutating func reset() {
        weightedSum.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        totalWeight = 0
        count = 0
    }

    /// sum[i] = fma(w, x[i], sum[i]), 16 lanes at a time.
    @inline(__always)
    private static func addProduct(_ w: Float, _ x: UnsafeBufferPointer<Float>, into sum: UnsafeMutablePointer<Float>) {
        let n = x.count
        guard n > 0 else { return }
        let src = UnsafeRawPointer(x.baseAddress!)
        let dst = UnsafeMutableRawPointer(sum)
        var i = 0
        while i + 16 <= n {
            let a = dst.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let b = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            dst.storeBytes(of: a.addingProduct(b, w), toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n {
            sum[i] = sum[i].addingProduct(x[i], w)
            i += 1
        }
    }
}
