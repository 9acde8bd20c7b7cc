import Foundation
import Privacy
import Testing

/// Composition, the (ε, δ) conversions and the noise search.
struct RDPAccountantTests {
    let accountant = try! RDPAccountant()

    @Test func defaultOrdersAreDPAccountings() {
        let orders = RDPAccountant.defaultOrders
        #expect(orders.count == 99 + 53 + 4)
        #expect(orders.first == 1.1 && orders.last == 1024)
        #expect(orders.contains(7.5) && orders.contains(10.9) && orders.contains(63) && !orders.contains(64))
        #expect(zip(orders, orders.dropFirst()).allSatisfy { $0 < $1 })
    }

    /// The Gaussian mechanism (q = 1), by hand: with the classic conversion
    /// ε(α) = α/(2σ²) + log(1/δ)/(α − 1) is smallest at α* = 1 + σ √(2 log(1/δ)), where
    /// ε* = 1/(2σ²) + √(2 log(1/δ)) / σ.
    @Test(arguments: [(1.0, 1e-5), (4.0, 1e-10), (10.0, 1e-6)])
    func gaussianMechanismClassicOptimum(sigma: Double, delta: Double) throws {
        let logInverse = log(1 / delta)
        let best = 1 + sigma * (2 * logInverse).squareRoot()
        let single = try RDPAccountant(orders: [best * 0.9, best, best * 1.1])
        let g = try single.epsilon(
            samplingRate: 1, noiseMultiplier: sigma, rounds: 1, delta: delta, conversion: .classic)
        #expect(g.order == best)
        #expect(relativeDifference(g.epsilon, 1 / (2 * sigma * sigma) + (2 * logInverse).squareRoot() / sigma) < 1e-13)
    }

    /// The Gaussian mechanism's exact privacy profile (Balle and Wang 2018):
    /// δ(ε) = Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ). RDP's ε must be a valid ε at δ (the exact
    /// δ there is at most δ) and not far from the tight one.
    @Test(arguments: [0.8, 1.0, 2.0, 5.0, 20.0])
    func gaussianMechanismIsBoundedByItsExactProfile(sigma: Double) throws {
        let delta = 1e-5
        let g = try accountant.epsilon(samplingRate: 1, noiseMultiplier: sigma, rounds: 1, delta: delta)
        func exactDelta(_ e: Double) -> Double {
            normalCDF(1 / (2 * sigma) - e * sigma) - exp(e) * normalCDF(-1 / (2 * sigma) - e * sigma)
        }
        #expect(exactDelta(g.epsilon) <= delta)
        #expect(exactDelta(g.epsilon * 0.7) > delta, "the RDP figure is more than 1/0.7 times the tight one")
        let classic = try accountant.epsilon(
            samplingRate: 1, noiseMultiplier: sigma, rounds: 1, delta: delta, conversion: .classic)
        #expect(g.epsilon < classic.epsilon)
    }

    /// One (q, σ, T, δ) → ε figure with its order, for both conversions.
    struct Reference: Sendable, CustomTestStringConvertible {
        var q: Double
        var sigma: Double
        var rounds: Int
        var delta: Double
        var epsilon: Double
        var order: Double
        var classic: Double
        var classicOrder: Double
        var testDescription: String { "q=\(q) σ=\(sigma) T=\(rounds) δ=\(delta)" }
    }

    /// Figures printed by `tools/.venv/bin/python tools/check_rdp.py --compare-dp` (independent
    /// numpy/scipy code), which agree with dp_accounting 0.6.0's RdpAccountant to 1e-10
    /// (docs/privacy.md).
    static let references: [Reference] = [
        Reference(
            q: 6500 / 3_000_000, sigma: 1.0, rounds: 2000, delta: 1e-10, epsilon: 1.9827265359751014, order: 12,
            classic: 2.2956385174909131, classicOrder: 12),
        Reference(
            q: 6500 / 3_000_000, sigma: 0.8, rounds: 2000, delta: 1e-10, epsilon: 3.3712999844302729, order: 7.5,
            classic: 3.8243859081543716, classicOrder: 7.5),
        Reference(
            q: 6500 / 3_000_000, sigma: 1.2, rounds: 2000, delta: 1e-10, epsilon: 1.2926957097911016, order: 17,
            classic: 1.5303961656110499, classicOrder: 17),
        Reference(
            q: 6500 / 1_500_000, sigma: 1.0, rounds: 2000, delta: 1e-10, epsilon: 2.5711665947987097, order: 10.2,
            classic: 2.9267842788915734, classicOrder: 10.2),
        Reference(
            q: 0.01, sigma: 1.1, rounds: 10000, delta: 1e-5, epsilon: 5.6320106706410833, order: 4.7,
            classic: 6.2787200472588385, classicOrder: 4.9),
        Reference(
            q: 0.001, sigma: 1.0, rounds: 100_000, delta: 1e-6, epsilon: 2.0040455923808573, order: 12,
            classic: 2.3169575738966692, classicOrder: 12),
        Reference(
            q: 0.06, sigma: 1.0, rounds: 100, delta: 1e-5, epsilon: 4.799751943953833, order: 4.2,
            classic: 5.5134119135700086, classicOrder: 4.3),
        Reference(
            q: 1.0, sigma: 10.0, rounds: 1, delta: 1e-5, epsilon: 0.37529122236627643, order: 41,
            classic: 0.48485261385354639, classicOrder: 49),
        Reference(
            q: 0.5, sigma: 2.0, rounds: 50, delta: 1e-8, epsilon: 13.172474608662004, order: 3.7,
            classic: 13.967048795970165, classicOrder: 3.8),
    ]

    @Test(arguments: references)
    func figuresMatchTheReferenceScript(_ r: Reference) throws {
        let g = try accountant.epsilon(samplingRate: r.q, noiseMultiplier: r.sigma, rounds: r.rounds, delta: r.delta)
        #expect(relativeDifference(g.epsilon, r.epsilon) < 1e-9, "\(g.epsilon) vs \(r.epsilon)")
        #expect(g.order == r.order)
        let c = try accountant.epsilon(
            samplingRate: r.q, noiseMultiplier: r.sigma, rounds: r.rounds, delta: r.delta, conversion: .classic)
        #expect(relativeDifference(c.epsilon, r.classic) < 1e-9, "\(c.epsilon) vs \(r.classic)")
        #expect(c.order == r.classicOrder)
    }

    @Test func compositionIsLinearInRounds() throws {
        let one = try accountant.composedRDP(samplingRate: 0.003, noiseMultiplier: 0.9, rounds: 1)
        for rounds in [0, 7, 2000] {
            let many = try accountant.composedRDP(samplingRate: 0.003, noiseMultiplier: 0.9, rounds: rounds)
            for (a, b) in zip(one, many) where a.isFinite {
                #expect(b == Double(rounds) * a)
            }
        }
    }

    @Test func epsilonGrowsWithRoundsAndRateAndFallsWithNoiseAndDelta() throws {
        func eps(_ q: Double, _ sigma: Double, _ t: Int, _ d: Double) throws -> Double {
            try accountant.epsilon(samplingRate: q, noiseMultiplier: sigma, rounds: t, delta: d).epsilon
        }
        let rounds = [1, 10, 100, 1000, 10000].map { try! eps(0.002, 1, $0, 1e-10) }
        #expect(zip(rounds, rounds.dropFirst()).allSatisfy { $0 < $1 })
        let rates = [0.0005, 0.002, 0.01, 0.1, 1].map { try! eps($0, 1, 1000, 1e-10) }
        #expect(zip(rates, rates.dropFirst()).allSatisfy { $0 < $1 })
        let noises = [0.7, 0.9, 1.2, 2, 4].map { try! eps(0.002, $0, 1000, 1e-10) }
        #expect(zip(noises, noises.dropFirst()).allSatisfy { $0 > $1 })
        let deltas = [1e-12, 1e-10, 1e-8, 1e-5, 1e-2].map { try! eps(0.002, 1, 1000, $0) }
        #expect(zip(deltas, deltas.dropFirst()).allSatisfy { $0 > $1 })
    }

    @Test func nothingReleasedIsZero() throws {
        #expect(try accountant.epsilon(samplingRate: 0, noiseMultiplier: 1, rounds: 100, delta: 1e-10).epsilon == 0)
        #expect(try accountant.epsilon(samplingRate: 0.1, noiseMultiplier: 1, rounds: 0, delta: 1e-10).epsilon == 0)
    }

    @Test(arguments: [(0.002, 2000, 1e-10, 2.0), (0.01, 10000, 1e-5, 8.0), (0.1, 10, 1e-6, 0.5), (1.0, 1, 1e-5, 1.0)])
    func noiseSearchInvertsEpsilon(q: Double, rounds: Int, delta: Double, target: Double) throws {
        let need = try accountant.noiseMultiplier(targetEpsilon: target, samplingRate: q, rounds: rounds, delta: delta)
        #expect(need.guarantee.epsilon <= target)
        let sigma = need.noiseMultiplier
        #expect(
            try accountant.epsilon(samplingRate: q, noiseMultiplier: sigma, rounds: rounds, delta: delta)
                == need.guarantee)
        let less = try accountant.epsilon(
            samplingRate: q, noiseMultiplier: sigma * (1 - 2e-6), rounds: rounds, delta: delta)
        #expect(less.epsilon > target, "σ is not the smallest: \(sigma)")
        #expect(relativeDifference(need.guarantee.epsilon, target) < 1e-4)
    }

    @Test func invalidInputsNameTheProblem() throws {
        func code(_ body: () throws -> Void) -> PrivacyError.Code? {
            do { try body() } catch let error as PrivacyError { return error.code } catch { return nil }
            return nil
        }
        let a = accountant
        #expect(
            code { _ = try a.epsilon(samplingRate: 2, noiseMultiplier: 1, rounds: 1, delta: 1e-5) }
                == .invalidSamplingRate)
        #expect(
            code { _ = try a.epsilon(samplingRate: 0.1, noiseMultiplier: 0, rounds: 1, delta: 1e-5) }
                == .invalidNoiseMultiplier)
        #expect(
            code { _ = try a.epsilon(samplingRate: 0.1, noiseMultiplier: 1, rounds: -1, delta: 1e-5) } == .invalidRounds
        )
        for delta in [0, 1, -1, Double.nan] {
            #expect(
                code { _ = try a.epsilon(samplingRate: 0.1, noiseMultiplier: 1, rounds: 1, delta: delta) }
                    == .invalidDelta)
        }
        #expect(code { _ = try RDPAccountant(orders: []) } == .invalidOrder)
        #expect(code { _ = try RDPAccountant(orders: [2, 1]) } == .invalidOrder)
        #expect(
            code { _ = try a.noiseMultiplier(targetEpsilon: 0, samplingRate: 0.1, rounds: 1, delta: 1e-5) }
                == .invalidEpsilon)
        #expect(
            code { _ = try a.noiseMultiplier(targetEpsilon: 1, samplingRate: 0, rounds: 1, delta: 1e-5) }
                == .noiseSearchFailed)
        #expect(
            code { _ = try a.noiseMultiplier(targetEpsilon: 1e6, samplingRate: 1e-6, rounds: 1, delta: 1e-5) }
                == .noiseSearchFailed)
    }
}
