import Foundation
import Privacy
import Testing

/// The tree-aggregation (DP-FTRL) accountant: hand-derived sensitivities, brute force over
/// every participation pattern of small trees, and the Gboard figure.
struct TreeAccountantTests {
    /// Σ_v c_v² over the complete dyadic intervals [j·2^h, (j + 1)·2^h) ⊆ [0, T).
    static func sumOfSquares(_ times: [Int], rounds: Int) -> Int {
        var total = 0
        var size = 1
        while size <= rounds {
            for start in stride(from: 0, through: rounds - size, by: size) {
                let c = times.filter { $0 >= start && $0 < start + size }.count
                total += c * c
            }
            size *= 2
        }
        return total
    }

    /// The max over every pattern of at most k rounds, consecutive ones more than b apart.
    static func bruteForce(rounds: Int, separation b: Int, participations k: Int) -> Int {
        var best = 0
        func extend(_ times: [Int]) {
            best = max(best, sumOfSquares(times, rounds: rounds))
            guard times.count < k else { return }
            let next = times.last.map { $0 + b + 1 } ?? 0
            guard next < rounds else { return }
            for t in next..<rounds { extend(times + [t]) }
        }
        extend([])
        return best
    }

    /// One participation: the deepest leaf, ⌊log₂ T⌋ + 1 nodes (the leftmost complete subtree).
    @Test(arguments: [1, 2, 3, 7, 8, 1000, 1024, 2000])
    func oneParticipationIsTheTreeDepth(rounds: Int) {
        let depth = Int(log2(Double(rounds)).rounded(.down)) + 1
        #expect(
            TreeAccountant.maximumSensitivitySquared(rounds: rounds, minSeparation: 0, maxParticipations: 1) == depth)
        #expect(
            TreeAccountant.maximumSensitivitySquared(rounds: rounds, minSeparation: 5, maxParticipations: 1) == depth)
    }

    /// Every round, T = 2^m: level h has 2^(m−h) nodes of count 2^h, Σ = 2^m (2^(m+1) − 1).
    @Test func everyRoundOfAFullTree() {
        for m in 0...6 {
            let t = 1 << m
            #expect(
                TreeAccountant.maximumSensitivitySquared(rounds: t, minSeparation: 0, maxParticipations: t)
                    == t * (2 * t - 1))
        }
    }

    @Test func dynamicProgrammingEqualsBruteForce() {
        for rounds in 1...13 {
            for b in 0...4 {
                for k in 1...4 {
                    let dp = TreeAccountant.maximumSensitivitySquared(
                        rounds: rounds, minSeparation: b, maxParticipations: k)
                    #expect(
                        dp == Self.bruteForce(rounds: rounds, separation: b, participations: k),
                        "T=\(rounds) b=\(b) k=\(k)")
                }
            }
        }
        // A larger tree, fewer patterns: T = 40, b = 7, k = 3.
        #expect(
            TreeAccountant.maximumSensitivitySquared(rounds: 40, minSeparation: 7, maxParticipations: 3)
                == Self.bruteForce(rounds: 40, separation: 7, participations: 3))
    }

    /// Xu et al. 2023 (Gboard DP-FTRL): σ = 7, 2,000 rounds, separation 313, 6 participations,
    /// δ = 1e-10 → ρ = 0.81, ε = 8.90. Sensitivity² is 79; dp_accounting's RdpAccountant for a
    /// Gaussian of the same ρ gives 8.898605012965975 at order 6.1 (the standard zCDP
    /// conversion gives 9.42, the exact Gaussian PLD 8.53: the published figure is RDP's).
    @Test func reproducesTheGboardFigure() throws {
        let g = try TreeAccountant(noiseMultiplier: 7, rounds: 2000, minSeparation: 313, maxParticipations: 6)
            .epsilon(delta: 1e-10)
        #expect(g.sensitivitySquared == 79)
        #expect((g.rho * 100).rounded() == 81)
        #expect(abs(g.epsilon - 8.90) / 8.90 < 0.02)
        #expect(abs(g.epsilon - 8.898605012965975) < 1e-9)
        #expect(g.order == 6.1)
        #expect(abs(g.zcdpEpsilon - (g.rho + 2 * (g.rho * log(1e10)).squareRoot())) < 1e-12)
    }

    @Test func noiseSearchInvertsEpsilon() throws {
        let g = try TreeAccountant.noiseMultiplier(
            targetEpsilon: 8.9, rounds: 2000, minSeparation: 313, maxParticipations: 6, delta: 1e-10)
        #expect(g.epsilon <= 8.9)
        #expect(abs(g.noiseMultiplier - 7) < 0.01)
        let less = try TreeAccountant(
            noiseMultiplier: g.noiseMultiplier * (1 - 2e-6), rounds: 2000, minSeparation: 313, maxParticipations: 6
        ).epsilon(delta: 1e-10)
        #expect(less.epsilon > 8.9)
    }

    @Test func invalidInputsNameTheProblem() {
        func code(_ body: () throws -> Void) -> PrivacyError.Code? {
            do { try body() } catch let error as PrivacyError { return error.code } catch { return nil }
            return nil
        }
        #expect(
            code { _ = try TreeAccountant(noiseMultiplier: 1, rounds: 10, minSeparation: -1, maxParticipations: 1) }
                == .invalidParticipation)
        #expect(
            code { _ = try TreeAccountant(noiseMultiplier: 0, rounds: 10, minSeparation: 1, maxParticipations: 1) }
                == .invalidNoiseMultiplier)
        #expect(
            code {
                _ = try TreeAccountant(noiseMultiplier: 1, rounds: 10, minSeparation: 1, maxParticipations: 1)
                    .epsilon(delta: 0)
            } == .invalidDelta)
    }
}
