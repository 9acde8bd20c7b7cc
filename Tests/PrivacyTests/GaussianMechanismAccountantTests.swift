import Foundation
import Testing

@testable import Privacy

/// The composed Gaussian mechanism's exact privacy profile (Balle and Wang 2018), the
/// accounting of what a fleet enforces.
@Suite struct GaussianMechanismAccountantTests {
    /// δ(ε) of μ-GDP against values from scipy.stats.norm (hand-checked: δ(0) for μ = 1 is
    /// Φ(½) − Φ(−½) = 0.382924922548).
    @Test func deltaMatchesTheClosedForm() {
        #expect(abs(GaussianMechanismAccountant.delta(epsilon: 0, mu: 1) - 0.38292492254802624) < 1e-12)
        #expect(abs(GaussianMechanismAccountant.delta(epsilon: 1, mu: 1) - 0.12693673750664392) < 1e-12)
        #expect(abs(GaussianMechanismAccountant.delta(epsilon: 2, mu: 0.5) / 9.439168634947276e-06 - 1) < 1e-9)
    }

    /// ε(δ) by bisection equals scipy's root of the same function (brentq, xtol 1e-14).
    @Test(arguments: [
        (1.0, 1e-5, 4.377178095681225), (0.5, 1e-10, 3.0994303302431967),
        (0.34992710611188255, 1e-10, 2.1240766949597485), (3.0, 1e-6, 18.163445759078474),
    ])
    func epsilonInvertsDelta(mu: Double, delta: Double, expected: Double) {
        let epsilon = GaussianMechanismAccountant.epsilon(delta: delta, mu: mu)
        #expect(abs(epsilon - expected) < 1e-9 * expected)
    }

    /// k participations at multiplier z are one Gaussian of μ = √k / z: 6 participations at
    /// z = 7 is μ = 0.3499 (the third row above).
    @Test func participationsCompose() {
        let e = GaussianMechanismAccountant.epsilon(noiseMultiplier: 7, participations: 6, delta: 1e-10)
        #expect(abs(e - 2.1240766949597485) < 1e-9)
        #expect(GaussianMechanismAccountant.epsilon(noiseMultiplier: 7, participations: 0, delta: 1e-10) == 0)
        // More participations, less noise or a smaller δ never lower ε.
        let base = GaussianMechanismAccountant.epsilon(noiseMultiplier: 2, participations: 10, delta: 1e-8)
        #expect(GaussianMechanismAccountant.epsilon(noiseMultiplier: 2, participations: 11, delta: 1e-8) > base)
        #expect(GaussianMechanismAccountant.epsilon(noiseMultiplier: 1.9, participations: 10, delta: 1e-8) > base)
        #expect(GaussianMechanismAccountant.epsilon(noiseMultiplier: 2, participations: 10, delta: 1e-9) > base)
    }

    /// The RDP bound of the unsampled Gaussian (q = 1) is an upper bound on the exact ε.
    @Test func rdpBoundsTheExactProfileFromAbove() throws {
        for (z, k) in [(1.0, 1), (2.0, 10), (5.0, 100)] {
            let exact = GaussianMechanismAccountant.epsilon(noiseMultiplier: z, participations: k, delta: 1e-6)
            let rdp = try RDPAccountant().epsilon(samplingRate: 1, noiseMultiplier: z, rounds: k, delta: 1e-6)
            #expect(rdp.epsilon >= exact)
            #expect(rdp.epsilon < 1.3 * exact)
        }
    }
}
