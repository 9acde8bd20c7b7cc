import Testing

@testable import Aggregation

struct WeightedSumTests {
    @Test func averagesByExampleCount() throws {
        var mean = WeightedSum(parameterCount: 3)
        mean.add([1, 2, 3], weight: 1)
        mean.add([3, 6, 9], weight: 3)
        let avg = try #require(mean.average())
        #expect(avg == [2.5, 5, 7.5])
        #expect(mean.count == 2)
        #expect(WeightedSum(parameterCount: 3).average() == nil)
    }

    @Test func mergingShardsEqualsAddingInOrder() {
        let deltas: [[Float]] = (0..<6).map { i in (0..<5).map { Float(i * 5 + $0) * 0.1 } }
        var whole = WeightedSum(parameterCount: 5)
        for (i, d) in deltas.enumerated() { whole.add(d, weight: Float(i + 1)) }
        var a = WeightedSum(parameterCount: 5)
        var b = WeightedSum(parameterCount: 5)
        for (i, d) in deltas.enumerated() {
            if i < 3 { a.add(d, weight: Float(i + 1)) } else { b.add(d, weight: Float(i + 1)) }
        }
        a.merge(b)
        for (x, y) in zip(a.average()!, whole.average()!) { #expect(abs(x - y) <= 1e-6 * max(1, abs(y))) }
    }
}

struct ServerOptimizerTests {
    @Test func fedAvgAddsTheAverageDelta() {
        var w: [Float] = [1, 1]
        var opt = FedAvg(learningRate: 0.5)
        opt.step(weights: &w, averageDelta: [2, -2])
        #expect(w == [2, 0])
    }

    @Test func momentumAccumulates() {
        var w: [Float] = [0]
        var opt = FedAvgMomentum(learningRate: 1, momentum: 0.5, parameterCount: 1)
        opt.step(weights: &w, averageDelta: [1])  // m = 1, w = 1
        opt.step(weights: &w, averageDelta: [1])  // m = 1.5, w = 2.5
        #expect(w == [2.5])
    }

    @Test("FedAdam and FedYogi follow Reddi et al.'s update, checked against a Double reference")
    func adaptiveMatchesReference() {
        for rule in [AdaptiveServerOptimizer.Rule.adam, .yogi] {
            var opt = AdaptiveServerOptimizer(
                rule, learningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01, parameterCount: 2)
            var w: [Float] = [0, 1]
            var (m, v, wr): ([Double], [Double], [Double]) = ([0, 0], [1e-4, 1e-4], [0, 1])
            for step in 0..<5 {
                let d: [Float] = [Float(step) * 0.1 - 0.2, 0.05]
                opt.step(weights: &w, averageDelta: d)
                for i in 0..<2 {
                    let g = Double(d[i])
                    m[i] = 0.9 * m[i] + 0.1 * g
                    if rule == .adam {
                        v[i] = 0.99 * v[i] + 0.01 * g * g
                    } else {
                        v[i] = v[i] - 0.01 * g * g * (v[i] > g * g ? 1 : (v[i] < g * g ? -1 : 0))
                    }
                    wr[i] += 0.1 * m[i] / (v[i].squareRoot() + 0.01)
                }
            }
            for i in 0..<2 { #expect(abs(Double(w[i]) - wr[i]) < 1e-5, "\(rule) parameter \(i)") }
        }
    }

    @Test(
        "optimizer strings parse, and bad ones say what is accepted",
        arguments: [
            ("fedavg", true), ("fedavg:lr=0.5", true), ("fedavgm:lr=1,momentum=0.9", true),
            ("fedadam:lr=0.01,tau=0.001", true), ("FedYogi", true),
            ("sgd", false), ("fedadam:lr=abc", false), ("fedavg:lr=-1", false), ("fedavg:momentum=0.9", false),
        ])
    func parsing(_ text: String, _ valid: Bool) throws {
        let parsed = try? ServerOptimizerKind(parsing: text)
        #expect((parsed != nil) == valid)
        if let parsed {
            #expect(try ServerOptimizerKind(parsing: parsed.description) == parsed)
        }
    }

    @Test("halflife halves the server learning rate every R rounds, for every optimizer")
    func learningRateSchedule() throws {
        let (kind, schedule) = try ServerOptimizerKind.parseWithSchedule("fedadam:lr=0.02,halflife=100")
        #expect(kind == .fedAdam(learningRate: 0.02, beta1: 0.9, beta2: 0.99, tau: 0.001))
        #expect(schedule.scale(round: 1) == 1)
        #expect(abs(schedule.scale(round: 101) - 0.5) < 1e-6)
        #expect(abs(schedule.scale(round: 201) - 0.25) < 1e-6)
        #expect(try ServerOptimizerKind.parseWithSchedule("fedadam").schedule.scale(round: 1000) == 1)
        #expect(throws: (any Error).self) { try ServerOptimizerKind.parseWithSchedule("fedadam:halflife=-5") }

        // A scaled step equals a step of the optimizer built with the scaled rate.
        let delta: [Float] = [0.3, -0.2, 0.05]
        for (text, scaledText) in [
            ("fedavg:lr=1", "fedavg:lr=0.25"), ("fedavgm:lr=1", "fedavgm:lr=0.25"),
            ("fedadam:lr=0.1", "fedadam:lr=0.025"), ("fedyogi:lr=0.1", "fedyogi:lr=0.025"),
        ] {
            var scaled = try ServerOptimizerKind(parsing: text).makeOptimizer(parameterCount: 3)
            var reference = try ServerOptimizerKind(parsing: scaledText).makeOptimizer(parameterCount: 3)
            var (w1, w2): ([Float], [Float]) = ([1, 2, 3], [1, 2, 3])
            for _ in 0..<3 {
                scaled.step(weights: &w1, averageDelta: delta, learningRateScale: 0.25)
                reference.step(weights: &w2, averageDelta: delta)
            }
            for i in 0..<3 { #expect(abs(w1[i] - w2[i]) < 1e-6, "\(text) parameter \(i)") }
        }
    }
}
