import FederatedCore
import Testing

@testable import Aggregation

/// Runs `updates` (with `examples` each, or 1) through `stages` + FedAvg(lr 1) from zero
/// weights, so the returned weights are the round's mean delta as the chain computes it.
private func aggregate(
    _ updates: [[Float]], examples: [Int]? = nil, stages: [any AggregationStage]
) throws -> (weights: [Float], reports: [StageReport]) {
    let p = updates[0].count
    var pipeline = AggregationPipeline(stages + [ServerOptimizerStage(FedAvg(learningRate: 1))])
    var round = pipeline.beginRound(1, parameterCount: p)
    for (i, u) in updates.enumerated() {
        var values = u
        try values.withUnsafeMutableBufferPointer { v in
            var update = ClientUpdate(
                device: UInt32(100 + i), message: UnsafeRawBufferPointer(start: nil, count: 0), values: v)
            update.exampleCount = examples?[i] ?? 1
            try pipeline.accept(&update, into: &round)
        }
    }
    var weights = [Float](repeating: 0, count: p)
    try pipeline.finish(&round, weights: &weights)
    return (weights, round.reports)
}

/// `n` updates of `p` values drawn from a few integers (so that coordinates have ties).
private func tiedUpdates(n: Int, p: Int, seed: UInt64) -> [[Float]] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in (0..<p).map { _ in Float(Int(rng.next() % 7)) - 3 + (rng.next() % 4 == 0 ? 0.5 : 0) } }
}

private func close(_ a: Float, _ b: Float, _ tolerance: Float = 1e-6) -> Bool {
    abs(a - b) <= tolerance * max(1, abs(b))
}

@Suite("Coordinate-wise median and trimmed mean")
struct CoordinateStatisticsTests {
    @Test("The median equals a brute-force sort of every coordinate, odd and even counts, with ties", arguments: 1...12)
    func medianMatchesSort(n: Int) {
        let p = 131  // more than two blocks of 64, and a partial one
        let updates = tiedUpdates(n: n, p: p, seed: UInt64(n))
        let flat = updates.flatMap { $0 }
        var out = [Float](repeating: .nan, count: p)
        flat.withUnsafeBufferPointer { all in
            out.withUnsafeMutableBufferPointer { CoordinateStatistics.median(of: all, count: n, into: $0) }
        }
        for j in 0..<p {
            let column = updates.map { $0[j] }.sorted()
            let expected = n % 2 == 1 ? column[n / 2] : (column[n / 2 - 1] + column[n / 2]) / 2
            #expect(out[j] == expected, "coordinate \(j) of \(n)")
        }
    }

    @Test(
        "The trimmed mean equals a brute-force sort, drop ⌊βn⌋ at each end, then the mean",
        arguments: [(5, 0.0), (5, 0.2), (6, 0.25), (10, 0.1), (10, 0.4), (11, 0.49), (40, 0.3), (3, 0.34)])
    func trimmedMeanMatchesSort(n: Int, beta: Double) throws {
        let p = 70
        let updates = tiedUpdates(n: n, p: p, seed: UInt64(n) * 31 + UInt64(beta * 100))
        let trim = Int((beta * Double(n)).rounded(.down))
        let (weights, reports) = try aggregate(
            updates, stages: [WeightStage(.uniform), RobustAggregatorStage(.trimmedMean(beta: beta))])
        for j in 0..<p {
            let column = updates.map { Double($0[j]) }.sorted()
            let kept = column[trim..<(n - trim)]
            let expected = Float(kept.reduce(0, +) / Double(kept.count))
            #expect(close(weights[j], expected), "coordinate \(j): \(weights[j]) vs \(expected)")
        }
        let report = try #require(reports.first).payload(as: DefenceReport.self)
        #expect(report.trimmedPerCoordinate == trim && report.norms.count == n && report.discarded == 0)
    }

    @Test("The median stage replaces the sum: the server optimizer steps by the median, whatever the weights")
    func medianStageFeedsTheOptimizer() throws {
        // Hand-worked: coordinate 0 of {1, 2, 100} is 2; coordinate 1 of {−1, 0, −50} is −1.
        let updates: [[Float]] = [[1, -1], [2, 0], [100, -50]]
        let (weights, reports) = try aggregate(
            updates, examples: [10, 1, 1000], stages: [WeightStage(.examples), RobustAggregatorStage(.median)])
        #expect(close(weights[0], 2) && close(weights[1], -1))
        let report = try #require(reports.first).payload(as: DefenceReport.self)
        #expect(report.defence == "median" && report.norms.count == 3)
        #expect(close(Float(report.norms.max), Float((100.0 * 100 + 50 * 50).squareRoot())))
    }

    @Test("A round with no update leaves the weights alone")
    func emptyRound() throws {
        var pipeline = AggregationPipeline([
            RobustAggregatorStage(.median), ServerOptimizerStage(FedAvg(learningRate: 1)),
        ])
        var round = pipeline.beginRound(1, parameterCount: 2)
        var weights: [Float] = [1, 2]
        try pipeline.finish(&round, weights: &weights)
        #expect(weights == [1, 2])
    }
}

@Suite("Krum and multi-Krum")
struct KrumTests {
    // Hand-worked, f = 1, n = 5, so each score sums the n − f − 2 = 2 smallest squared
    // distances: a (0,0): b 1, c 1, d 0.32 → 1.32; b (1,0): a 1, c 2, d 0.52 → 1.52;
    // c (0,1): 1.52 likewise; d (0.4,0.4): a 0.32, b 0.52, c 0.52 → 0.84;
    // e (10,10): b 181, c 181 → 362.
    static let points: [[Float]] = [[0, 0], [1, 0], [0, 1], [0.4, 0.4], [10, 10]]

    @Test("Scores match the hand-worked distances")
    func scores() {
        let flat = Self.points.flatMap { $0 }
        let scores = flat.withUnsafeBufferPointer { Krum.scores(of: $0, count: 5, f: 1) }
        for (s, e) in zip(scores, [1.32, 1.52, 1.52, 0.84, 362]) { #expect(abs(s - e) < 1e-5) }
        #expect(Krum.lowest(3, of: scores) == [3, 0, 1])  // b before c on the tie
    }

    @Test("Krum picks d, the update nearest its neighbours, and reports the others as discarded")
    func krumPicksTheHandWorkedChoice() throws {
        let (weights, reports) = try aggregate(
            Self.points, stages: [WeightStage(.uniform), RobustAggregatorStage(.krum(f: 1))])
        #expect(close(weights[0], 0.4) && close(weights[1], 0.4))
        let report = try #require(reports.first).payload(as: DefenceReport.self)
        #expect(
            report.selectedDevices == [103] && report.discardedDevices == [100, 101, 102, 104] && report.discarded == 4)
    }

    @Test("Multi-Krum with m = 3 averages d, a and b")
    func multiKrum() throws {
        let (weights, reports) = try aggregate(
            Self.points, stages: [WeightStage(.uniform), RobustAggregatorStage(.multiKrum(f: 1, m: 3))])
        #expect(close(weights[0], 1.4 / 3) && close(weights[1], 0.4 / 3))
        let report = try #require(reports.first).payload(as: DefenceReport.self)
        #expect(report.selectedDevices == [100, 101, 103] && report.discardedDevices == [102, 104])
    }

    @Test("Two colluding far updates do not win against six honest ones with f = 2")
    func collusion() throws {
        var points: [[Float]] = (0..<6).map { i in [1 + Float(i) * 0.01, 1 - Float(i) * 0.01, 0.5] }
        points += [[50, 50, 50], [50, 50, 50.1]]
        let (weights, _) = try aggregate(points, stages: [WeightStage(.uniform), RobustAggregatorStage(.krum(f: 2))])
        #expect(weights[0] < 2 && weights[2] < 1)
    }

    @Test("A round with too few updates for f is an error naming the setting")
    func tooFewInARound() {
        #expect(throws: AggregationError.self) {
            try aggregate([[0], [1], [2], [3]], stages: [RobustAggregatorStage(.krum(f: 1))])
        }
        #expect(Krum.minimumUpdates(f: 2) == 7)
    }
}

@Suite("Norm bounding")
struct NormBoundTests {
    @Test("Long updates end at norm ≤ C, short ones are left bit for bit, and the clipped devices are reported")
    func bounds() throws {
        let updates: [[Float]] = [[3, 4], [0.3, 0.4], [-30, 40], [0.5, -0.5]]
        var stage = try NormBoundStage(bound: 1)
        stage.beginRound(1)
        var round = RoundAggregate(round: 1, parameterCount: 2)
        var seen: [[Float]] = []
        for (i, u) in updates.enumerated() {
            var values = u
            try values.withUnsafeMutableBufferPointer { v in
                var update = ClientUpdate(
                    device: UInt32(i), message: UnsafeRawBufferPointer(start: nil, count: 0), values: v)
                try stage.process(&update, into: &round)
            }
            seen.append(values)
        }
        for (before, after) in zip(updates, seen) {
            let norm = (after.map { Double($0) * Double($0) }.reduce(0, +)).squareRoot()
            #expect(norm <= 1 + 1e-6)
            if (before.map { $0 * $0 }.reduce(0, +)) <= 1 { #expect(before == after) }
        }
        #expect(close(seen[0][0], 0.6) && close(seen[2][0], -0.6) && close(seen[2][1], 0.8))
        var weights: [Float] = [0, 0]
        try stage.finish(&round, weights: &weights)
        let report = try #require(round.reports.first).payload(as: DefenceReport.self)
        #expect(report.clipped == 2 && report.clippedDevices == [0, 2] && report.norms.count == 4)
        #expect(report.norms.max == 50 && report.defence == "norm-bound:1.0")
    }

    @Test("Noise on the mean has the asked standard deviation and is the same for the same seed and round")
    func noise() throws {
        let p = 20_000
        func run(seed: UInt64) throws -> [Float] {
            try aggregate(
                [[Float](repeating: 0.001, count: p)],
                stages: [try NormBoundStage(bound: 10, sigma: 0.01, seed: seed), WeightStage(.uniform), SumStage()]
            ).weights
        }
        let a = try run(seed: 7)
        #expect(try run(seed: 7) == a)
        #expect(try run(seed: 8) != a)
        let mean = a.map { Double($0) }.reduce(0, +) / Double(p)
        let sd = (a.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(p)).squareRoot()
        #expect(abs(mean - 0.001) < 0.0005 && abs(sd - 0.01) < 0.0005)
    }
}

@Suite("Defence settings")
struct DefenceSettingTests {
    @Test(
        "Good settings parse",
        arguments: [
            ("median", nil, RobustRule.median), ("trimmed-mean", "0.1", .trimmedMean(beta: 0.1)),
            ("trimmed-mean", "beta=0", .trimmedMean(beta: 0)), ("krum", "f=2", .krum(f: 2)), ("krum", "3", .krum(f: 3)),
            ("multi-krum", "f=2,m=5", .multiKrum(f: 2, m: 5)), ("multi-krum", "m=5, f=0", .multiKrum(f: 0, m: 5)),
        ] as [(String, String?, RobustRule)])
    func parses(name: String, argument: String?, rule: RobustRule) throws {
        #expect(try RobustRule(name: name, argument: argument) == rule)
    }

    @Test(
        "Bad settings are errors that name the setting",
        arguments: [
            ("trimmed-mean", "0.5", "β"), ("trimmed-mean", "-0.1", "β"), ("trimmed-mean", nil, "β"),
            ("trimmed-mean", "x", "beta must be a number"), ("krum", "f=-1", "f must be"),
            ("krum", "f=1.5", "f must be"),
            ("krum", nil, "give f"), ("multi-krum", "f=2", "give m"), ("multi-krum", "f=2,m=0", "m must be"),
            ("krum", "f=1,m=2", "'m' is not a setting"), ("median", "3", "median takes no setting"),
        ] as [(String, String?, String)])
    func refuses(name: String, argument: String?, fragment: String) {
        do {
            _ = try RobustRule(name: name, argument: argument)
            Issue.record("\(name):\(argument ?? "") parsed")
        } catch {
            #expect(error.code == .invalidStage)
            #expect(error.message.contains(fragment), "\(error.message)")
            #expect(error.message.contains(name))
        }
    }

    @Test("Krum with n ≤ 2f + 2 reports per round is refused, naming the setting")
    func krumNeedsEnoughPhones() throws {
        #expect(throws: Never.self) { try RobustRule.krum(f: 2).check(minimumReports: 7) }
        for reports in [0, 5, 6] {
            do {
                try RobustRule.krum(f: 2).check(minimumReports: reports)
                Issue.record("krum:f=2 accepted \(reports) reports")
            } catch {
                #expect(error.message.contains("krum:f=2") && error.message.contains("2f + 2 = 6"))
            }
        }
        #expect(throws: AggregationError.self) { try RobustRule.multiKrum(f: 1, m: 5).check(minimumReports: 5) }
        #expect(throws: Never.self) { try RobustRule.median.check(minimumReports: 1) }
    }

    @Test(
        "A bound C ≤ 0 or a negative sigma is refused, naming the setting",
        arguments: ["0", "-1", "c=0", "1,sigma=-1", ""])
    func normBoundRefuses(argument: String) {
        do {
            _ = try NormBoundStage(argument: argument, seed: 1)
            Issue.record("norm-bound:\(argument) parsed")
        } catch {
            #expect(error.code == .invalidStage && error.message.contains("norm-bound"))
            #expect(error.message.contains(argument.contains("sigma") ? "sigma" : "bound C"))
        }
    }
}
