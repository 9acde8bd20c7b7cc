public import FederatedCore

/// DP-FTRL's server step (Kairouz et al. 2021, "Practical and private (deep) learning
/// without sampling or shuffling"): the model is the start model plus the server learning
/// rate times the noisy *prefix sum* of the rounds' average updates, and the noise of each
/// prefix sum comes from a binary tree over the rounds, so every round's release shares
/// noise with the others and a phone's contribution is covered by about log₂ T noisy nodes.
///
/// Round `t` (1-based, the run's round number) is a leaf. Node `(l, j)` covers rounds
/// `(j − 1)·2^l + 1 … j·2^l` and carries N(0, σ²) per coordinate, σ = z · C · w_max · K / K′
/// (as ``GaussianNoiseStage``). The prefix `1…t` is the sum of the nodes `(l, t >> l)` for the
/// bits `l` set in `t`. Each node's noise is drawn from its own stream of the run's seed, so it
/// is the same in every round that uses it and needs no storage. A round that is abandoned
/// releases nothing; its leaf simply holds no update.
///
/// The stage replaces the server optimizer: it ends the chain. Its state is the start model
/// θ₀ and the running sum S of the rounds' average updates; the weights after round `t` are
/// `θ₀ + η · (S_t + tree noise_t) / (K · w_max)`.
public struct TreeAggregationStage: AggregationStage {
    /// What the stage records about a round.
    public struct Report: Codable, Sendable, Equatable {
        public var noiseMultiplier: Double
        public var clipNorm: Double
        /// The standard deviation of one tree node's noise on the sum.
        public var nodeStandardDeviation: Double
        /// The tree nodes the round's prefix sum used.
        public var nodes: Int
        public var simulatedCohort: Int?
    }

    public var name: String { "ftrl-tree" }
    public let noiseMultiplier: Double
    public let learningRate: Double
    public let cohort: Int
    public let simulatedCohort: Int?
    private let seed: UInt64
    private var start: [Float] = []
    private var prefix: [Float] = []

    public init(noiseMultiplier: Double, learningRate: Double, cohort: Int, simulatedCohort: Int? = nil, seed: UInt64)
        throws(AggregationError)
    {
        guard noiseMultiplier > 0, noiseMultiplier.isFinite else {
            throw AggregationError(.invalidStage, "the noise multiplier must be positive (got \(noiseMultiplier))")
        }
        guard learningRate > 0, learningRate.isFinite else {
            throw AggregationError(.invalidStage, "the DP-FTRL learning rate must be positive (got \(learningRate))")
        }
        guard cohort >= 1 else { throw AggregationError(.invalidStage, "the cohort must be at least 1") }
        if let k = simulatedCohort, k < cohort {
            throw AggregationError(
                .invalidStage, "a simulated cohort (\(k)) must be at least the real cohort (\(cohort))")
        }
        self.noiseMultiplier = noiseMultiplier
        self.learningRate = learningRate
        self.cohort = cohort
        self.simulatedCohort = simulatedCohort
        self.seed = seed
    }

    /// The tree nodes `(level, index)` whose sum is the noise of the prefix `1…round`.
    public static func prefixNodes(round: Int) -> [(level: Int, index: Int)] {
        precondition(round >= 1, "rounds are 1-based")
        var nodes: [(Int, Int)] = []
        var level = 0
        while (round >> level) > 0 {
            if (round >> level) & 1 == 1 { nodes.append((level, round >> level)) }
            level += 1
        }
        return nodes
    }

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        guard let bound = aggregate.weightBound.map(Double.init) else {
            throw AggregationError(
                .invalidStage, "ftrl-tree needs bounded weights before it (weight:uniform or weight:capped:N)")
        }
        guard let clipNorm = aggregate.clipNorm else {
            throw AggregationError(.invalidStage, "ftrl-tree needs a clip stage before it")
        }
        let n = aggregate.sum.parameterCount
        guard weights.count == n else {
            throw AggregationError(.shapeMismatch, "ftrl-tree: \(weights.count) weights for a sum of \(n)")
        }
        if start.isEmpty {
            start = weights
            prefix = [Float](repeating: 0, count: n)
        }
        guard start.count == n, prefix.count == n else {
            throw AggregationError(.shapeMismatch, "ftrl-tree's state does not match the model's \(n) parameters")
        }
        let denominator = Double(cohort) * bound
        let scale = Float(1 / denominator)
        let sumValues = aggregate.sum.weightedSum
        for i in 0..<n { prefix[i] += sumValues[i] * scale }
        let sd = noiseMultiplier * clipNorm * bound * (simulatedCohort.map { Double(cohort) / Double($0) } ?? 1)
        var noise = [Float](repeating: 0, count: n)
        let nodes = Self.prefixNodes(round: aggregate.round)
        noise.withUnsafeMutableBufferPointer { buffer in
            for node in nodes {
                var rng = SplitMix64(seed: seed, streams: 0x7EE, UInt64(node.level), UInt64(node.index))
                rng.addGaussianNoise(standardDeviation: sd / denominator, to: buffer)
            }
        }
        let eta = Float(learningRate)
        for i in 0..<n { weights[i] = start[i] + eta * (prefix[i] + noise[i]) }
        aggregate.denominator = denominator
        aggregate.reports.append(
            StageReport(
                stage: name,
                payload: Report(
                    noiseMultiplier: noiseMultiplier, clipNorm: clipNorm, nodeStandardDeviation: sd,
                    nodes: nodes.count, simulatedCohort: simulatedCohort)))
    }

    public var stateVectorCount: Int { 2 }

    public var stateVectors: [[Float]] { [start, prefix] }

    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        guard vectors.count == 2, vectors[0].count == vectors[1].count else {
            throw AggregationError(.shapeMismatch, "ftrl-tree keeps two state vectors of one length (θ₀ and the sum)")
        }
        start = vectors[0]
        prefix = vectors[1]
    }
}
