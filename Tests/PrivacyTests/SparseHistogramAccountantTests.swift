import FederatedCore
import Foundation
import Testing

@testable import Privacy

/// The Gaussian sparse histogram mechanism's accounting (DP n-gram counts): the threshold's
/// δ_τ against hand-derived normal tails and a brute-force search, and the composed guarantee
/// against its definition.
@Suite struct SparseHistogramAccountantTests {
    /// One phone-only n-gram of count c is released iff c + Z ≥ τ − ½: with τ = 5, c = 1 and
    /// σ = 3.5/3 that is Z ≥ 3σ, probability Φ(−3) = 0.0013498980316301 (tables); two such
    /// n-grams: 1 − (1 − q)²; τ = 3, c = 2, σ = 1 is Z ≥ ½, Φ(−½) = 0.3085375387259869.
    @Test func thresholdDeltaIsTheNormalTail() {
        let q = 0.0013498980316300946
        let one = SparseHistogramAccountant.thresholdDelta(
            threshold: 5, maximumCount: 1, keys: 1, standardDeviation: 3.5 / 3)
        #expect(abs(one / q - 1) < 1e-12)
        let two = SparseHistogramAccountant.thresholdDelta(
            threshold: 5, maximumCount: 1, keys: 2, standardDeviation: 3.5 / 3)
        #expect(abs(two / (2 * q - q * q) - 1) < 1e-12)
        let half = SparseHistogramAccountant.thresholdDelta(
            threshold: 3, maximumCount: 2, keys: 1, standardDeviation: 1)
        #expect(abs(half / 0.3085375387259869 - 1) < 1e-12)
        #expect(
            SparseHistogramAccountant.thresholdDelta(threshold: 9, maximumCount: 1, keys: 0, standardDeviation: 1) == 0)
        // Deep in the tail (t = 20): Φ(−20) = 2.7536241186062336e-89, times 100 keys.
        let deep = SparseHistogramAccountant.thresholdDelta(
            threshold: 22, maximumCount: 1, keys: 100, standardDeviation: 20.5 / 20)
        #expect(abs(deep / (100 * 2.7536241186062336e-89) - 1) < 1e-9)
    }

    /// The threshold search returns the smallest τ that meets the target: brute force over τ.
    @Test(arguments: [(1e-6, 1, 32, 3.0), (1e-10, 2, 96, 9.8), (0.4, 1, 1, 1.0), (1e-12, 5, 500, 40.0)])
    func thresholdIsTheSmallestThatMeetsTheTarget(delta: Double, maximumCount: Int, keys: Int, sigma: Double) throws {
        let tau = try #require(
            SparseHistogramAccountant.threshold(
                forDelta: delta, maximumCount: maximumCount, keys: keys, standardDeviation: sigma))
        func d(_ t: Int) -> Double {
            SparseHistogramAccountant.thresholdDelta(
                threshold: t, maximumCount: maximumCount, keys: keys, standardDeviation: sigma)
        }
        #expect(d(tau) <= delta)
        var first = 1
        while d(first) > delta { first += 1 }
        #expect(first == tau)
    }

    /// The release probability by simulation: count c + N(0, σ²), rounded, ≥ τ, in 200,000
    /// draws, within 4 standard errors of δ_τ.
    @Test func thresholdDeltaMatchesSimulation() {
        var rng = SplitMix64(seed: 3)
        let (tau, c, sigma) = (6, 2, 1.6)
        let n = 200_000
        var released = 0
        for _ in 0..<n where (Double(c) + sigma * rng.nextStandardNormal()).rounded() >= Double(tau) { released += 1 }
        let p = SparseHistogramAccountant.thresholdDelta(
            threshold: tau, maximumCount: c, keys: 1, standardDeviation: sigma)
        let se = (p * (1 - p) / Double(n)).squareRoot()
        #expect(abs(Double(released) / Double(n) - p) < 4 * se, "simulated \(Double(released) / Double(n)), δ_τ \(p)")
    }

    /// The guarantee: ε_G at δ − kδ_τ plus ln(1/(1 − kδ_τ)); without a threshold term it is the
    /// composed Gaussian's ε; with none of δ left, nil; no participation, ε = 0.
    @Test func guaranteeComposesTheGaussianAndTheThreshold() throws {
        let plain = try #require(
            try SparseHistogramAccountant.guarantee(
                noiseMultiplier: 1.5, participations: 4, thresholdDelta: 0, delta: 1e-6))
        #expect(
            plain.epsilon == GaussianMechanismAccountant.epsilon(noiseMultiplier: 1.5, participations: 4, delta: 1e-6))
        let g = try #require(
            try SparseHistogramAccountant.guarantee(
                noiseMultiplier: 1.5, participations: 4, thresholdDelta: 1e-8, delta: 1e-6))
        #expect(g.thresholdDelta == 4e-8)
        #expect(abs(g.gaussianDelta - (1e-6 - 4e-8)) < 1e-20)
        let expected = GaussianMechanismAccountant.epsilon(delta: 1e-6 - 4e-8, mu: 2 / 1.5) + 4e-8
        #expect(abs(g.epsilon - expected) < 1e-12)
        #expect(g.epsilon > plain.epsilon)
        #expect(
            try SparseHistogramAccountant.guarantee(
                noiseMultiplier: 1.5, participations: 100, thresholdDelta: 1e-8, delta: 1e-6) == nil)
        #expect(
            try SparseHistogramAccountant.guarantee(
                noiseMultiplier: 1, participations: 0, thresholdDelta: 0.1, delta: 1e-6)?
                .epsilon == 0)
        #expect(throws: PrivacyError.self) {
            try SparseHistogramAccountant.guarantee(
                noiseMultiplier: 0, participations: 1, thresholdDelta: 0, delta: 1e-6)
        }
        #expect(throws: PrivacyError.self) {
            try SparseHistogramAccountant.guarantee(noiseMultiplier: 1, participations: 1, thresholdDelta: 0, delta: 1)
        }
    }
}
