import Foundation
import Privacy
import Testing

/// The RDP of one round, against hand-derived values and brute-force integration.
struct SampledGaussianTests {
    @Test(arguments: [(0.5, 2.0), (1.0, 1.5), (1.1, 30.0), (4.0, 128.0)])
    func fullParticipationIsTheGaussianMechanism(sigma: Double, alpha: Double) throws {
        let mechanism = try SampledGaussian(samplingRate: 1, noiseMultiplier: sigma)
        #expect(try mechanism.rdp(order: alpha) == alpha / (2 * sigma * sigma))
    }

    @Test func noSamplingReleasesNothing() throws {
        let mechanism = try SampledGaussian(samplingRate: 0, noiseMultiplier: 0.3)
        for alpha in [1.5, 2, 64] { #expect(try mechanism.rdp(order: alpha) == 0) }
    }

    /// The binomial sum is the expectation it expands: a Simpson integral of the density ratio.
    @Test(arguments: [
        (0.01, 1.0, 2), (0.01, 1.0, 8), (0.1, 1.5, 5), (0.5, 2.0, 3), (0.2, 0.8, 4), (0.002, 0.7, 12),
        (0.9, 3.0, 6),
    ])
    func binomialSumEqualsTheIntegral(q: Double, sigma: Double, alpha: Int) throws {
        let mechanism = try SampledGaussian(samplingRate: q, noiseMultiplier: sigma)
        let closed = mechanism.logMomentBinomial(order: alpha)
        let integral = BruteForce.logMoment(q: q, sigma: sigma, alpha: Double(alpha))
        #expect(relativeDifference(closed, integral) < 1e-9, "\(closed) vs \(integral)")
    }

    /// The signed two series are exact; dp_accounting's absolute-value series bounds them
    /// from above, loosely at α near 1 (+27 % on log A at q = 0.05, σ = 1.2, α = 1.1).
    @Test(arguments: [
        (0.01, 1.0, 2.5), (0.1, 1.5, 3.3), (0.001, 1.1, 10.5), (0.05, 2.0, 1.7), (0.002, 0.8, 7.5),
        (0.05, 1.2, 1.1),
    ])
    func fractionalSeriesEqualsTheIntegral(q: Double, sigma: Double, alpha: Double) throws {
        let mechanism = try SampledGaussian(samplingRate: q, noiseMultiplier: sigma)
        let exact = mechanism.logMomentSeries(order: alpha, series: .exact)
        let bound = mechanism.logMomentSeries(order: alpha, series: .dpAccounting)
        let integral = BruteForce.logMoment(q: q, sigma: sigma, alpha: alpha)
        #expect(relativeDifference(exact, integral) < 1e-8, "\(exact) vs \(integral)")
        #expect(bound >= integral * (1 - 1e-10), "\(bound) vs \(integral)")
    }

    /// At Gboard-like rates the absolute values change nothing that shows at the orders that
    /// decide ε there (7.5 to 20); at low orders they still do (+0.84 % on log A at α = 1.5,
    /// +0.005 % at α = 2.5).
    @Test(arguments: [7.5, 10.2, 20.5])
    func bothSeriesAgreeAtSmallSamplingRates(alpha: Double) throws {
        let mechanism = try SampledGaussian(samplingRate: 6500 / 3_000_000, noiseMultiplier: 1)
        let exact = mechanism.logMomentSeries(order: alpha, series: .exact)
        let bound = mechanism.logMomentSeries(order: alpha, series: .dpAccounting)
        #expect(bound >= exact)
        #expect(relativeDifference(exact, bound) < 1e-6, "\(exact) vs \(bound)")
    }

    /// Where a series does not settle within 1000 terms (q = 0.5, σ = 2 at α ≤ 1.8, as
    /// dp_accounting warns), the order is given up: ∞, left out of the minimum.
    @Test func aSeriesThatDoesNotConvergeGivesInfinity() throws {
        let mechanism = try SampledGaussian(samplingRate: 0.5, noiseMultiplier: 2)
        #expect(try mechanism.rdp(order: 1.5) == .infinity)
        #expect(try mechanism.rdp(order: 2).isFinite)
    }

    /// Values of `python3 tools/check_rdp.py`, whose series sums a fixed 1000 terms where
    /// this one (and dp_accounting's) stops once terms fall e^30 below A_α: the two differ by
    /// ~1e-12 in A_α, ~1e-9 relative on log A_α when log A_α is 3e-4.
    @Test func fractionalSeriesMatchesTheReferenceScript() throws {
        // q = 0.001, σ = 1.1, α = 10.5: series_abs = series_signed = 6.51257126523809e-05
        // (quadrature 6.51257126524918e-05).
        let mechanism = try SampledGaussian(samplingRate: 0.001, noiseMultiplier: 1.1)
        #expect(relativeDifference(mechanism.logMomentSeries(order: 10.5), 6.51257126523809e-05) < 1e-8)
        // q = 0.01, σ = 1, α = 2.5: the absolute values add 0.09 % (series_abs 0.000326658037932837,
        // signed 0.000326362998422761).
        let coarse = try SampledGaussian(samplingRate: 0.01, noiseMultiplier: 1)
        #expect(relativeDifference(coarse.logMomentSeries(order: 2.5), 0.000326658037932837) < 1e-8)
        #expect(relativeDifference(coarse.logMomentSeries(order: 2.5, series: .exact), 0.000326362998422761) < 1e-8)
    }

    /// At an integer order both routes apply and give the same A_α.
    @Test(arguments: [(0.01, 1.0, 2), (0.1, 1.5, 5), (0.002, 1.0, 12), (0.5, 2.0, 3), (0.2, 0.8, 9)])
    func integerAndFractionalRoutesAgree(q: Double, sigma: Double, alpha: Int) throws {
        let mechanism = try SampledGaussian(samplingRate: q, noiseMultiplier: sigma)
        let binomial = mechanism.logMomentBinomial(order: alpha)
        for series in FractionalSeries.allCases {
            let viaSeries = mechanism.logMomentSeries(order: Double(alpha), series: series)
            #expect(relativeDifference(binomial, viaSeries) < 1e-10, "\(series): \(binomial) vs \(viaSeries)")
        }
    }

    /// RDP values printed by `python3 tools/check_rdp.py` (its binomial sum, scipy's gammaln).
    @Test(arguments: [
        (0.01, 1.0, 2.0, 0.00017181342207454875), (0.01, 1.0, 8.0, 0.00089364390760604344),
        (0.1, 1.5, 5.0, 0.016983145901666413), (0.2, 0.8, 4.0, 1.0479866182113482),
        (0.1, 1.5, 3.3, 0.0099547936021015058),
    ])
    func rdpMatchesTheReferenceScript(q: Double, sigma: Double, alpha: Double, expected: Double) throws {
        let mechanism = try SampledGaussian(samplingRate: q, noiseMultiplier: sigma)
        let tolerance = alpha == alpha.rounded() ? 1e-12 : 1e-8  // the series' stopping rule, above
        #expect(relativeDifference(try mechanism.rdp(order: alpha), expected) < tolerance)
    }

    @Test func rdpGrowsWithTheSamplingRateAndFallsWithNoise() throws {
        for alpha in [1.5, 2, 7.5, 32] {
            var previous = 0.0
            for q in [0.001, 0.01, 0.05, 0.1, 1] {
                let r = try SampledGaussian(samplingRate: q, noiseMultiplier: 1.3).rdp(order: alpha)
                #expect(r > previous, "α = \(alpha), q = \(q)")
                previous = r
            }
            previous = .infinity
            for sigma in [0.6, 0.8, 1, 2, 5] {
                let r = try SampledGaussian(samplingRate: 0.01, noiseMultiplier: sigma).rdp(order: alpha)
                #expect(r < previous, "α = \(alpha), σ = \(sigma)")
                previous = r
            }
        }
    }

    @Test func invalidMechanismsAreRefusedWithTheFix() {
        for q in [-0.1, 1.5, .nan, .infinity] {
            do {
                _ = try SampledGaussian(samplingRate: q, noiseMultiplier: 1)
                Issue.record("q = \(q) accepted")
            } catch {
                #expect(error.code == .invalidSamplingRate)
                #expect(error.message.contains("cohort / devices"))
            }
        }
        for sigma in [0, -1, .nan, .infinity] {
            do {
                _ = try SampledGaussian(samplingRate: 0.1, noiseMultiplier: sigma)
                Issue.record("σ = \(sigma) accepted")
            } catch {
                #expect(error.code == .invalidNoiseMultiplier)
            }
        }
        for alpha in [1, 0.5, .nan, .infinity] {
            do {
                _ = try SampledGaussian(samplingRate: 0.1, noiseMultiplier: 1).rdp(order: alpha)
                Issue.record("α = \(alpha) accepted")
            } catch {
                #expect(error.code == .invalidOrder)
            }
        }
    }
}
