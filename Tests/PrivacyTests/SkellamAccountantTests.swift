import FederatedCore
import Foundation
import Testing

@testable import Privacy

/// The Skellam mechanism's RDP (Agarwal, Kairouz, Liu 2021, Theorem 3.5) and its composition
/// without amplification, against hand-derived values and the exact Rényi divergence.
@Suite struct SkellamAccountantTests {
    /// ε(2) at μ = 100, Δ₁ = Δ₂ = 1, by hand: 2·1/(2·100) + min((3·1 + 6·1)/(4·100²), 3/(2·100))
    /// = 0.01 + min(2.25e-4, 0.015) = 0.010225.
    @Test func oneOrderByHand() {
        let r = SkellamAccountant.rdp(order: 2, variance: 100, l1Sensitivity: 1, l2Sensitivity: 1)
        #expect(abs(r - 0.010225) < 1e-15)
        // The second branch of the minimum when μ is small: μ = 1, Δ = 1, α = 10 gives
        // 10/2 + min((19 + 6)/4, 3/2) = 6.5.
        #expect(SkellamAccountant.rdp(order: 10, variance: 1, l1Sensitivity: 1, l2Sensitivity: 1) == 6.5)
    }

    /// (ε, δ) after composition, from python3 (the same formula, orders 2…63, 128, 256, 512,
    /// 1024, the improved conversion r + log1p(−1/α) − log(δα)/(α − 1)):
    /// - μ = 1e6, Δ₁ = 1e5, Δ₂ = 1000, 10 releases, δ = 1e-6: ε = 20.95299802653992 at α = 3;
    /// - μ = 50, Δ₁ = Δ₂ = 3, 1 release, δ = 1e-5: ε = 1.826892839412861 at α = 11;
    /// - z = 2, c = 0.5, γ = 1000, d = 100 (Δ₂ = 510, Δ₁ = min(10·510, 510²) = 5100,
    ///   μ = 4·510² = 1040400), 5 releases, δ = 1e-7: ε = 6.432949018906871 at α = 6.
    @Test func composedEpsilonByHand() throws {
        let a = try SkellamAccountant.epsilon(
            variance: 1e6, l1Sensitivity: 1e5, l2Sensitivity: 1000, participations: 10, delta: 1e-6)
        #expect(abs(a.epsilon - 20.95299802653992) < 1e-10)
        #expect(a.order == 3)
        let b = try SkellamAccountant.epsilon(
            variance: 50, l1Sensitivity: 3, l2Sensitivity: 3, participations: 1, delta: 1e-5)
        #expect(abs(b.epsilon - 1.826892839412861) < 1e-10)
        #expect(b.order == 11)
        let c = try SkellamAccountant.epsilon(
            noiseMultiplier: 2, clip: 0.5, scale: 1000, dimension: 100, participations: 5, delta: 1e-7)
        #expect(c.l2Sensitivity == 510 && c.l1Sensitivity == 5100 && c.variance == 1_040_400)
        #expect(abs(c.epsilon - 6.432949018906871) < 1e-10)
        #expect(c.order == 6)
        // No participation, no loss; more participations never less.
        #expect(
            try SkellamAccountant.epsilon(
                noiseMultiplier: 2, clip: 0.5, scale: 1000, dimension: 100, participations: 0, delta: 1e-7
            ).epsilon == 0)
        let more = try SkellamAccountant.epsilon(
            noiseMultiplier: 2, clip: 0.5, scale: 1000, dimension: 100, participations: 6, delta: 1e-7)
        #expect(more.epsilon > c.epsilon)
    }

    /// log Σ_k P(k − Δ)^α P(k)^(1−α) / (α − 1) for P = Sk(μ), summed over |k| ≤ 40√μ + 200.
    static func exactRenyi(order alpha: Double, variance mu: Double, shift: Int64) -> Double {
        let span = Int64(40 * mu.squareRoot()) + 200
        var total = -Double.infinity
        for k in -span...span {
            let p = log(SkellamNoiseTests.skellamPMF(k - shift, variance: mu))
            let q = log(SkellamNoiseTests.skellamPMF(k, variance: mu))
            guard p.isFinite, q.isFinite else { continue }
            total = LogMath.add(total, alpha * p + (1 - alpha) * q)
        }
        return total / (alpha - 1)
    }

    /// The bound holds against brute force in one dimension (Δ₁ = Δ₂ = Δ) and is close to it.
    /// mpmath (mp.dps = 40, pmf e^(−μ) I_|k|(μ)) gives the exact divergences: μ = 20, Δ = 1:
    /// 0.049952798198220301 (α = 2), 0.099348597154533234 (α = 4), 0.19423477194577204 (α = 8);
    /// μ = 50, Δ = 3: 0.17964976255905111 (α = 2), 0.4425569521924475 (α = 5); μ = 5, Δ = 1:
    /// 0.28865848054030853 (α = 3). The bounds: 0.055625, 0.108125, 0.213125, 0.1845, 0.4599, 0.41.
    @Test(arguments: [
        (20.0, Int64(1), 2.0, 0.049952798198220301), (20.0, 1, 4.0, 0.099348597154533234),
        (20.0, 1, 8.0, 0.19423477194577204), (50.0, 3, 2.0, 0.17964976255905111),
        (50.0, 3, 5.0, 0.4425569521924475), (5.0, 1, 3.0, 0.28865848054030853),
    ])
    func boundHoldsAgainstBruteForce(mu: Double, shift: Int64, alpha: Double, mpmath: Double) {
        let exact = Self.exactRenyi(order: alpha, variance: mu, shift: shift)
        #expect(abs(exact - mpmath) < 1e-9 * max(1, mpmath), "exact \(exact), mpmath \(mpmath)")
        let bound = SkellamAccountant.rdp(
            order: alpha, variance: mu, l1Sensitivity: Double(shift), l2Sensitivity: Double(shift))
        #expect(bound >= exact)
        // Close where μ is large against Δ: within 12% at μ = 20 and 50.
        if mu >= 20 { #expect(bound / exact < 1.12, "bound \(bound), exact \(exact)") }
    }

    /// As μ grows at fixed z (μ = z²Δ₂²) ε approaches the Gaussian mechanism's RDP figure.
    @Test func approachesTheGaussian() throws {
        let gaussian = try RDPAccountant(orders: SkellamAccountant.orders).epsilon(
            samplingRate: 1, noiseMultiplier: 1.5, rounds: 20, delta: 1e-6)
        let skellam = try SkellamAccountant.epsilon(
            noiseMultiplier: 1.5, clip: 1, scale: 1e7, dimension: 10_000, participations: 20, delta: 1e-6)
        #expect(skellam.epsilon >= gaussian.epsilon)
        #expect(skellam.epsilon < gaussian.epsilon * 1.001)
    }

    @Test func badInputIsRefused() {
        #expect(throws: PrivacyError.self) {
            _ = try SkellamAccountant.epsilon(
                variance: 0, l1Sensitivity: 1, l2Sensitivity: 1, participations: 1, delta: 1e-6)
        }
        #expect(throws: PrivacyError.self) {
            _ = try SkellamAccountant.epsilon(
                noiseMultiplier: 1, clip: -1, scale: 1, dimension: 1, participations: 1, delta: 1e-6)
        }
        #expect(throws: PrivacyError.self) {
            _ = try SkellamAccountant.epsilon(
                noiseMultiplier: 1, clip: 1, scale: 1, dimension: 1, participations: 1, delta: 2)
        }
        #expect(SkellamAccountant.orders.allSatisfy { $0 == $0.rounded() && $0 >= 2 })
    }
}
