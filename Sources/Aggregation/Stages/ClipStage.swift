public import FederatedCore
import Foundation

/// Bounds each update's L2 norm by the clip norm C: user-level clipping for differential
/// privacy (McMahan et al. 2018) and norm bounding against boosted updates.
///
/// - **Flat**: the whole delta is scaled by min(1, C / ‖Δ‖).
/// - **Per layer**: each tensor `l` of `n_l` of the model's `n` values is clipped to
///   `C_l = C · √(n_l / n)`, so that Σ C_l² = C² and the whole update still has norm ≤ C
///   (the sensitivity the noise is calibrated to is unchanged).
/// - **Adaptive** (Andrew et al. 2021, "Differentially private learning with adaptive
///   clipping"): each round counts the updates whose norm was at most C, adds Gaussian noise
///   of standard deviation σ_b to the count, and moves C geometrically towards the target
///   quantile γ of the norms: `C ← C · exp(−η (b̄ − γ))` with `b̄ = (count + N(0, σ_b²)) / m`,
///   `m` the round's updates. The clip norm is the stage's state across rounds
///   (checkpointed), so a resumed run continues with the same C.
///
/// The stage writes the round's C into ``RoundAggregate/clipNorm`` with every update and in
/// ``finish(_:weights:)`` (before changing it for the next round), where the noise stage
/// reads it.
public struct ClipStage: AggregationStage {
    /// Where the norm bound applies.
    public enum Granularity: Sendable, Equatable {
        /// One bound on the whole update.
        case flat
        /// One bound per tensor: the ranges of the model's tensors, in order, covering the
        /// parameters exactly.
        case perLayer([Range<Int>])
    }

    /// Adaptive clipping's settings (Andrew et al. 2021).
    public struct Adaptive: Sendable, Equatable {
        /// The target quantile γ of the update norms, in (0, 1) (default 0.5, the median).
        public var targetQuantile: Double
        /// The geometric learning rate η (default 0.2).
        public var learningRate: Double
        /// The standard deviation σ_b of the noise on the unclipped count (0: no noise; not
        /// private).
        public var countNoiseStandardDeviation: Double

        public init(targetQuantile: Double = 0.5, learningRate: Double = 0.2, countNoiseStandardDeviation: Double) {
            self.targetQuantile = targetQuantile
            self.learningRate = learningRate
            self.countNoiseStandardDeviation = countNoiseStandardDeviation
        }
    }

    /// What the stage records about a round.
    public struct Report: Codable, Sendable, Equatable {
        /// The clip norm the round's updates were clipped to.
        public var clipNorm: Double
        /// Updates seen, and of those, updates whose norm exceeded the clip norm.
        public var updates: Int
        public var clipped: Int
        /// The clip norm for the next round (adaptive clipping; equal to ``clipNorm`` otherwise).
        public var nextClipNorm: Double
        /// The noisy unclipped fraction b̄ adaptive clipping stepped on (nil when not adaptive).
        public var noisyUnclippedFraction: Double?
    }

    public var name: String { "clip" }
    /// The clip norm C of the current round.
    public private(set) var clipNorm: Double
    public let granularity: Granularity
    public let adaptive: Adaptive?
    private let seed: UInt64
    private var round = 0
    private var layerFactors: [Double]

    /// A clip stage starting at `clipNorm`; `seed` drives adaptive clipping's count noise.
    public init(clipNorm: Double, granularity: Granularity = .flat, adaptive: Adaptive? = nil, seed: UInt64 = 0)
        throws(AggregationError)
    {
        guard clipNorm > 0, clipNorm.isFinite else {
            throw AggregationError(.invalidStage, "the clip norm must be positive and finite (got \(clipNorm))")
        }
        if let a = adaptive {
            guard a.targetQuantile > 0, a.targetQuantile < 1 else {
                throw AggregationError(
                    .invalidStage, "the adaptive clipping quantile must be in (0, 1) (got \(a.targetQuantile))")
            }
            guard a.learningRate > 0, a.learningRate.isFinite else {
                throw AggregationError(
                    .invalidStage, "the adaptive clipping learning rate must be positive (got \(a.learningRate))")
            }
            guard a.countNoiseStandardDeviation >= 0, a.countNoiseStandardDeviation.isFinite else {
                throw AggregationError(
                    .invalidStage,
                    "the adaptive clipping count noise must be 0 or more (got \(a.countNoiseStandardDeviation))")
            }
        }
        self.clipNorm = clipNorm
        self.granularity = granularity
        self.adaptive = adaptive
        self.seed = seed
        switch granularity {
        case .flat: layerFactors = []
        case .perLayer(let ranges):
            let total = Double(ranges.reduce(0) { $0 + $1.count })
            guard total > 0 else { throw AggregationError(.invalidStage, "per-layer clipping needs tensors") }
            layerFactors = ranges.map { (Double($0.count) / total).squareRoot() }
        }
    }

    public mutating func beginRound(_ round: Int) {
        self.round = round
    }

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        let values = update.values
        if case .perLayer(let ranges) = granularity, let last = ranges.last, last.upperBound != values.count {
            throw AggregationError(
                .shapeMismatch, "per-layer clipping covers \(last.upperBound) values; the update has \(values.count)")
        }
        let norm = VectorNorm.l2(UnsafeBufferPointer(values))
        // Adaptive clipping's indicator: was the whole update within the bound?
        if norm <= clipNorm { aggregate.clipCounts.unclipped += 1 }
        var scaledAny = false
        switch granularity {
        case .flat:
            scaledAny = VectorNorm.scale(values, norm: norm, toAtMost: clipNorm)
        case .perLayer(let ranges):
            for (range, factor) in zip(ranges, layerFactors) {
                let layer = UnsafeMutableBufferPointer(rebasing: values[range])
                if VectorNorm.scale(layer, norm: VectorNorm.l2(UnsafeBufferPointer(layer)), toAtMost: clipNorm * factor)
                {
                    scaledAny = true
                }
            }
        }
        if scaledAny { aggregate.clipCounts.clipped += 1 }
        aggregate.clipCounts.updates += 1
        aggregate.clipNorm = clipNorm
        update.values = values
    }

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        aggregate.clipNorm = clipNorm
        let counts = aggregate.clipCounts
        let (updates, unclipped) = (counts.updates, counts.unclipped)
        var report = Report(clipNorm: clipNorm, updates: updates, clipped: counts.clipped, nextClipNorm: clipNorm)
        if let a = adaptive, updates > 0 {
            var rng = SplitMix64(seed: seed, streams: 0xADA971, UInt64(round))
            let noisy = Double(unclipped) + a.countNoiseStandardDeviation * rng.nextStandardNormal()
            let fraction = noisy / Double(updates)
            clipNorm *= Foundation.exp(-a.learningRate * (fraction - a.targetQuantile))
            report.nextClipNorm = clipNorm
            report.noisyUnclippedFraction = fraction
        }
        aggregate.reports.append(StageReport(stage: name, payload: report))
    }

    public var stateVectorCount: Int { adaptive == nil ? 0 : 1 }

    public var stateVectors: [[Float]] {
        guard adaptive != nil else { return [] }
        // The Double's bits in two Floats' storage, so the checkpoint restores C exactly.
        let bits = clipNorm.bitPattern
        return [[Float(bitPattern: UInt32(truncatingIfNeeded: bits)), Float(bitPattern: UInt32(bits >> 32))]]
    }

    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        guard adaptive != nil else {
            guard vectors.isEmpty else {
                throw AggregationError(
                    .shapeMismatch, "a fixed clip keeps no state; the checkpoint has \(vectors.count)")
            }
            return
        }
        guard vectors.count == 1, vectors[0].count == 2 else {
            throw AggregationError(.shapeMismatch, "adaptive clipping keeps one 2-value state vector")
        }
        let bits = UInt64(vectors[0][0].bitPattern) | UInt64(vectors[0][1].bitPattern) << 32
        let restored = Double(bitPattern: bits)
        guard restored > 0, restored.isFinite else {
            throw AggregationError(.shapeMismatch, "the checkpoint's clip norm \(restored) is not positive")
        }
        clipNorm = restored
    }
}
