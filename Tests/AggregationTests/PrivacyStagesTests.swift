import FederatedCore
import Foundation
import Testing

@testable import Aggregation

/// The differential-privacy stages: clipping (flat, per layer, adaptive), the Gaussian
/// mechanism (central and distributed), bounded weights and DP-FTRL's tree.
@Suite struct PrivacyStagesTests {
    /// Runs `values` through `stages` as one update of `device`, returning the values after.
    static func run(
        _ stages: inout [any AggregationStage], _ values: [Float], device: UInt32 = 0, examples: Int = 1,
        into aggregate: inout RoundAggregate
    ) throws -> [Float] {
        var v = values
        try v.withUnsafeMutableBufferPointer { buffer in
            var update = ClientUpdate(
                device: device, message: UnsafeRawBufferPointer(start: nil, count: 0), values: buffer)
            update.exampleCount = examples
            for i in stages.indices { try stages[i].process(&update, into: &aggregate) }
        }
        return v
    }

    static func norm(_ v: some Collection<Float>) -> Double {
        v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    static func randomVector(_ n: Int, scale: Double, rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in Float(rng.nextStandardNormal() * scale) }
    }

    @Test func flatClipBoundsEveryNormAndLeavesShortUpdatesAlone() throws {
        var rng = SplitMix64(seed: 7)
        var stages: [any AggregationStage] = [try ClipStage(clipNorm: 1.5)]
        var aggregate = RoundAggregate(round: 1, parameterCount: 64)
        stages[0].beginRound(1)
        var clippedCount = 0
        for _ in 0..<200 {
            let before = Self.randomVector(64, scale: Double.random(in: 0.01...0.5, using: &rng), rng: &rng)
            let after = try Self.run(&stages, before, into: &aggregate)
            let n = Self.norm(before)
            #expect(Self.norm(after) <= 1.5 * (1 + 1e-6))
            if n <= 1.5 {
                #expect(after == before)
            } else {
                clippedCount += 1
                // Scaled, not truncated: the direction is kept.
                #expect(abs(Self.norm(after) - 1.5) < 1e-5)
                let cosine =
                    zip(before, after).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / (n * Self.norm(after))
                #expect(abs(cosine - 1) < 1e-6)
            }
        }
        var weights = [Float](repeating: 0, count: 64)
        try stages[0].finish(&aggregate, weights: &weights)
        let report = try #require(aggregate.reports.first).payload(as: ClipStage.Report.self)
        #expect(report.updates == 200 && report.clipped == clippedCount && clippedCount > 0)
        #expect(aggregate.clipNorm == 1.5)
    }

    @Test func perLayerClipSplitsTheBoundBySize() throws {
        // Tensors of 1, 3 and 12 values: bounds C·√(1/16), C·√(3/16), C·√(12/16), squares summing to C².
        let ranges = [0..<1, 1..<4, 4..<16]
        var stages: [any AggregationStage] = [try ClipStage(clipNorm: 2, granularity: .perLayer(ranges))]
        var aggregate = RoundAggregate(round: 1, parameterCount: 16)
        let update: [Float] = [10] + [Float](repeating: 0.01, count: 3) + [Float](repeating: 3, count: 12)
        let after = try Self.run(&stages, update, into: &aggregate)
        #expect(abs(Self.norm(after[0..<1]) - 2 * (1.0 / 16).squareRoot()) < 1e-6)
        #expect(Array(after[1..<4]) == Array(update[1..<4]))  // under its bound of 0.866
        #expect(abs(Self.norm(after[4..<16]) - 2 * (12.0 / 16).squareRoot()) < 1e-5)
        #expect(Self.norm(after) <= 2 * (1 + 1e-6))
    }

    @Test func perLayerClipRefusesAnUpdateOfAnotherShape() throws {
        var stages: [any AggregationStage] = [try ClipStage(clipNorm: 1, granularity: .perLayer([0..<2, 2..<4]))]
        var aggregate = RoundAggregate(round: 1, parameterCount: 5)
        #expect(throws: AggregationError.self) { _ = try Self.run(&stages, [1, 2, 3, 4, 5], into: &aggregate) }
    }

    @Test func badClipSettingsAreRefused() {
        #expect(throws: AggregationError.self) { _ = try ClipStage(clipNorm: 0) }
        #expect(throws: AggregationError.self) { _ = try ClipStage(clipNorm: -1) }
        #expect(throws: AggregationError.self) {
            _ = try ClipStage(clipNorm: 1, adaptive: .init(targetQuantile: 1, countNoiseStandardDeviation: 1))
        }
        #expect(throws: AggregationError.self) {
            _ = try ClipStage(
                clipNorm: 1, adaptive: .init(targetQuantile: 0.5, learningRate: 0, countNoiseStandardDeviation: 1))
        }
        #expect(throws: AggregationError.self) { _ = try GaussianNoiseStage(noiseMultiplier: 0, cohort: 10, seed: 1) }
        #expect(throws: AggregationError.self) {
            _ = try GaussianNoiseStage(noiseMultiplier: 1, cohort: 10, simulatedCohort: 5, seed: 1)
        }
    }

    /// Adaptive clipping (Andrew et al. 2021) on norms uniform in [0, 10]: C settles at the
    /// γ-quantile 10γ, from a start far below it and far above it.
    @Test(arguments: [(0.5, 0.1), (0.9, 50.0), (0.2, 0.01)])
    func adaptiveClippingFindsTheQuantile(quantile: Double, start: Double) throws {
        var stage = try ClipStage(
            clipNorm: start,
            adaptive: .init(targetQuantile: quantile, learningRate: 0.2, countNoiseStandardDeviation: 10),
            seed: 3)
        var rng = SplitMix64(seed: 11)
        var late: [Double] = []
        for round in 1...400 {
            stage.beginRound(round)
            var aggregate = RoundAggregate(round: round, parameterCount: 1)
            for _ in 0..<200 {
                var value: [Float] = [Float(10 * rng.nextUnitDouble())]
                try value.withUnsafeMutableBufferPointer { b in
                    var update = ClientUpdate(
                        device: 0, message: UnsafeRawBufferPointer(start: nil, count: 0), values: b)
                    try stage.process(&update, into: &aggregate)
                }
            }
            var weights: [Float] = [0]
            try stage.finish(&aggregate, weights: &weights)
            if round > 300 { late.append(stage.clipNorm) }
        }
        let mean = late.reduce(0, +) / Double(late.count)
        #expect(
            abs(mean - 10 * quantile) / (10 * quantile) < 0.05, "C settled at \(mean), the quantile is \(10 * quantile)"
        )
    }

    @Test func adaptiveClipNormSurvivesACheckpointExactly() throws {
        var stage = try ClipStage(
            clipNorm: 0.3, adaptive: .init(targetQuantile: 0.5, countNoiseStandardDeviation: 1), seed: 1)
        stage.beginRound(1)
        var aggregate = RoundAggregate(round: 1, parameterCount: 1)
        var weights: [Float] = [0]
        var v: [Float] = [5]
        try v.withUnsafeMutableBufferPointer { b in
            var update = ClientUpdate(device: 0, message: UnsafeRawBufferPointer(start: nil, count: 0), values: b)
            try stage.process(&update, into: &aggregate)
        }
        try stage.finish(&aggregate, weights: &weights)
        var restored = try ClipStage(
            clipNorm: 0.3, adaptive: .init(targetQuantile: 0.5, countNoiseStandardDeviation: 1), seed: 1)
        try restored.restoreState(stage.stateVectors)
        #expect(restored.clipNorm == stage.clipNorm && stage.clipNorm != 0.3)
    }

    /// The capped weight rule: min(n, N) / N, bounded by 1.
    @Test func cappedWeights() throws {
        #expect(WeightStage.Rule(argument: "capped:100") == .capped(100))
        #expect(WeightStage.Rule(argument: "capped:0") == nil)
        #expect(WeightStage.Rule(argument: "uniform")?.bound == 1)
        #expect(WeightStage.Rule(argument: "examples")?.bound == nil)
        var stage = WeightStage(.capped(100))
        var aggregate = RoundAggregate(round: 1, parameterCount: 1)
        for (examples, expected) in [(1, Float(0.01)), (50, 0.5), (100, 1), (5000, 1)] {
            var v: [Float] = [1]
            try v.withUnsafeMutableBufferPointer { b in
                var update = ClientUpdate(device: 0, message: UnsafeRawBufferPointer(start: nil, count: 0), values: b)
                update.exampleCount = examples
                try stage.process(&update, into: &aggregate)
                #expect(update.weight == expected)
            }
        }
        #expect(aggregate.weightBound == 1)
    }

    /// Sample standard deviation and mean of a sum's coordinates.
    static func moments(_ values: some Collection<Float>) -> (mean: Double, sd: Double) {
        let n = Double(values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / n
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)
        return (mean, variance.squareRoot())
    }

    /// One round of `updates` zero deltas through weight → clip → noise → sum.
    static func noisySum(placement: GaussianNoiseStage.Placement, updates: Int, parameters: Int, seed: UInt64) throws
        -> [Float]
    {
        var stages: [any AggregationStage] = [
            WeightStage(.uniform), try ClipStage(clipNorm: 0.5),
            try GaussianNoiseStage(
                noiseMultiplier: 1.2, cohort: updates, placement: placement, distributedShares: updates, seed: seed),
            SumStage(),
        ]
        for i in stages.indices { stages[i].beginRound(1) }
        var aggregate = RoundAggregate(round: 1, parameterCount: parameters)
        for d in 0..<updates {
            _ = try run(&stages, [Float](repeating: 0, count: parameters), device: UInt32(d), into: &aggregate)
        }
        var weights = [Float](repeating: 0, count: parameters)
        for i in stages.indices { try stages[i].finish(&aggregate, weights: &weights) }
        #expect(aggregate.denominator == Double(updates))
        return Array(aggregate.sum.weightedSum)
    }

    /// The measured noise standard deviation equals z · C within 3 standard errors
    /// (the standard error of a sample standard deviation is about σ / √(2n)).
    @Test func centralNoiseHasStandardDeviationZTimesC() throws {
        let n = 200_000
        let sum = try Self.noisySum(placement: .central, updates: 4, parameters: n, seed: 5)
        let (mean, sd) = Self.moments(sum)
        let sigma = 1.2 * 0.5
        #expect(abs(sd - sigma) < 3 * sigma / (2.0 * Double(n)).squareRoot(), "sd \(sd), want \(sigma)")
        #expect(abs(mean) < 3 * sigma / Double(n).squareRoot())
    }

    /// Central and distributed noise give the same distribution of the noisy sum: equal
    /// standard deviations within 3 standard errors, and a two-sample Kolmogorov–Smirnov
    /// statistic below its 1% critical value.
    @Test func centralAndDistributedNoiseAgree() throws {
        let n = 50_000
        let central = try Self.noisySum(placement: .central, updates: 8, parameters: n, seed: 21)
        let distributed = try Self.noisySum(placement: .distributed, updates: 8, parameters: n, seed: 22)
        let sigma = 1.2 * 0.5
        let se = sigma / (2.0 * Double(n)).squareRoot()
        #expect(abs(Self.moments(central).sd - sigma) < 3 * se)
        #expect(abs(Self.moments(distributed).sd - sigma) < 3 * se)
        let a = central.sorted()
        let b = distributed.sorted()
        var i = 0
        var j = 0
        var d = 0.0
        while i < a.count && j < b.count {
            if a[i] <= b[j] { i += 1 } else { j += 1 }
            d = max(d, abs(Double(i) / Double(a.count) - Double(j) / Double(b.count)))
        }
        let critical = 1.628 * (2.0 / Double(n)).squareRoot()  // α = 0.01
        #expect(d < critical, "KS statistic \(d), critical \(critical)")
    }

    @Test func simulatedCohortScalesTheNoiseByKOverKPrime() throws {
        let stage = try GaussianNoiseStage(noiseMultiplier: 2, cohort: 10, simulatedCohort: 5000, seed: 1)
        #expect(abs(stage.sumStandardDeviation(clipNorm: 0.5, weightBound: 1) - 2 * 0.5 * 10 / 5000) < 1e-15)
    }

    @Test func noiseWithoutAClipOrWithUnboundedWeightsIsRefused() throws {
        var noise: any AggregationStage = try GaussianNoiseStage(noiseMultiplier: 1, cohort: 2, seed: 1)
        var aggregate = RoundAggregate(round: 1, parameterCount: 1)
        var weights: [Float] = [0]
        #expect(throws: AggregationError.self) { try noise.finish(&aggregate, weights: &weights) }
        aggregate.weightBound = 1
        #expect(throws: AggregationError.self) { try noise.finish(&aggregate, weights: &weights) }
        aggregate.clipNorm = 1
        try noise.finish(&aggregate, weights: &weights)
    }

    @Test func treePrefixNodesAreTheBinaryDecomposition() {
        func nodes(_ t: Int) -> [[Int]] { TreeAggregationStage.prefixNodes(round: t).map { [$0.level, $0.index] } }
        #expect(nodes(1) == [[0, 1]])
        #expect(nodes(2) == [[1, 1]])
        #expect(nodes(6) == [[1, 3], [2, 1]])
        #expect(nodes(7) == [[0, 7], [1, 3], [2, 1]])
        #expect(nodes(8) == [[3, 1]])
        // Every round 1…64 is covered exactly once by the nodes of prefix 64, and each prefix
        // t's nodes cover exactly 1…t.
        for t in 1...64 {
            var covered: [Int] = []
            for (level, index) in TreeAggregationStage.prefixNodes(round: t) {
                covered += Array(((index - 1) << level + 1)...(index << level))
            }
            #expect(covered.sorted() == Array(1...t))
        }
    }

    /// DP-FTRL with zero updates: the model moves by η × the prefix noise, whose standard
    /// deviation is √(nodes) · σ / (K · w_max); and a node's noise is the same in every prefix
    /// that uses it (round 2's and round 3's prefixes share node (1, 1)).
    @Test func treeNoiseIsSharedAndHasTheRightSize() throws {
        let n = 100_000
        var stage = try TreeAggregationStage(noiseMultiplier: 1.5, learningRate: 0.5, cohort: 4, seed: 9)
        var outcomes: [[Float]] = []
        for round in 1...3 {
            stage.beginRound(round)
            var aggregate = RoundAggregate(round: round, parameterCount: n)
            aggregate.clipNorm = 2
            aggregate.weightBound = 1
            var weights = [Float](repeating: 1, count: n)
            if round > 1 { weights = outcomes.last! }
            try stage.finish(&aggregate, weights: &weights)
            outcomes.append(weights.map { $0 - 1 })
        }
        let nodeSD = 0.5 * 1.5 * 2 / 4
        for (round, nodes) in [(1, 1.0), (2, 1.0), (3, 2.0)] {
            let sd = Self.moments(outcomes[round - 1]).sd
            let want = nodeSD * nodes.squareRoot()
            #expect(abs(sd - want) < 3 * want / (2.0 * Double(n)).squareRoot(), "round \(round): \(sd) vs \(want)")
        }
        // Round 3 = node (1,1) + node (0,3); round 2 = node (1,1): their difference is one fresh node.
        let difference = zip(outcomes[2], outcomes[1]).map { $0 - $1 }
        let sd = Self.moments(difference).sd
        #expect(abs(sd - nodeSD) < 3 * nodeSD / (2.0 * Double(n)).squareRoot())
    }

    @Test func gaussianSamplerMoments() {
        var rng = SplitMix64(seed: 123)
        var values = [Float](repeating: 0, count: 400_001)
        values.withUnsafeMutableBufferPointer { rng.addGaussianNoise(standardDeviation: 3, to: $0) }
        let (mean, sd) = Self.moments(values)
        #expect(abs(sd - 3) < 3 * 3 / (2.0 * Double(values.count)).squareRoot())
        #expect(abs(mean) < 3 * 3 / Double(values.count).squareRoot())
        // Kurtosis 3 for a Gaussian (a uniform would give 1.8): the shape, not only the scale.
        let m4 = values.reduce(0.0) { $0 + pow(Double($1) - mean, 4) } / Double(values.count)
        #expect(abs(m4 / pow(sd, 4) - 3) < 0.05)
    }
}
