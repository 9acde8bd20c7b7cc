import FederatedCore
import Foundation

/// Norm bounding (Sun et al. 2019, "Can you really backdoor federated learning?"): every
/// update's delta is scaled down to L2 norm at most `bound` before it is summed, so that no
/// phone moves the model further than an honest one could; optionally weak Gaussian noise of
/// standard deviation `sigma` is added to every coordinate of the round's mean (`norm-bound:1.0`,
/// `norm-bound:1.0,sigma=0.001`).
///
/// It goes before the sum (or the robust aggregator that replaces it). An update already
/// within the bound is left exactly as it was. The noise is drawn from `(seed, round)`, so a
/// run is reproducible and a resumed run draws the same noise.
public struct NormBoundStage: AggregationStage {
    /// The largest L2 norm an update keeps.
    public let bound: Double
    /// The noise's standard deviation on each coordinate of the mean (0: none).
    public let sigma: Double
    /// The run's seed, for the noise.
    public let seed: UInt64
    public var name: String { "norm-bound" }
    private var norms: [Double] = []
    private var clippedDevices: [UInt32] = []

    /// A bound of `bound` (> 0) with noise `sigma` (≥ 0).
    ///
    /// - Throws: ``AggregationError/Code/invalidStage`` naming the bad setting.
    public init(bound: Double, sigma: Double = 0, seed: UInt64 = 0) throws(AggregationError) {
        guard bound > 0, bound.isFinite else {
            throw AggregationError(
                .invalidStage, "norm-bound: the bound C must be a number > 0 (got \(bound)), e.g. norm-bound:1.0")
        }
        guard sigma >= 0, sigma.isFinite else {
            throw AggregationError(
                .invalidStage,
                "norm-bound: sigma, the noise on the mean, must be ≥ 0 (got \(sigma)), e.g. norm-bound:1.0,sigma=0.001")
        }
        self.bound = bound
        self.sigma = sigma
        self.seed = seed
    }

    /// The stage a chain entry `norm-bound:argument` names (`1.0`, `c=1.0,sigma=0.001`).
    public init(argument: String?, seed: UInt64) throws(AggregationError) {
        let s = try DefenceArguments.parse(argument, stage: "norm-bound", positional: "c", allowed: ["c", "sigma"])
        guard let c = s["c"] else {
            throw AggregationError(
                .invalidStage, "norm-bound: give the bound C, the largest L2 norm an update keeps, e.g. norm-bound:1.0")
        }
        try self.init(bound: c, sigma: s["sigma"] ?? 0, seed: seed)
    }

    /// The setting as a chain entry.
    public var setting: String { sigma > 0 ? "norm-bound:\(bound),sigma=\(sigma)" : "norm-bound:\(bound)" }

    public mutating func beginRound(_ round: Int) {
        norms.removeAll(keepingCapacity: true)
        clippedDevices.removeAll(keepingCapacity: true)
    }

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        let norm = VectorNorm.l2(UnsafeBufferPointer(update.values))
        norms.append(norm)
        if VectorNorm.scale(update.values, norm: norm, toAtMost: bound) { clippedDevices.append(update.device) }
    }

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        var report = DefenceReport(defence: setting, norms: NormDistribution(norms))
        report.clipped = clippedDevices.count
        report.clippedDevices = clippedDevices
        aggregate.reports.append(StageReport(stage: name, payload: report))
        guard sigma > 0, var mean = aggregate.sum.average() else { return }
        var rng = SplitMix64(seed: seed, streams: 0xB0_0D, UInt64(aggregate.round))
        mean.withUnsafeMutableBufferPointer { rng.addGaussianNoise(standardDeviation: sigma, to: $0) }
        var noisy = WeightedSum(parameterCount: mean.count)
        noisy.add(mean, weight: Float(aggregate.sum.totalWeight))
        aggregate.sum = noisy
    }
}
