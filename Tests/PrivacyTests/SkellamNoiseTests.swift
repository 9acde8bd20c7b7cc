import FederatedCore
import Foundation
import Testing

/// The exact Poisson and Skellam samplers of distributed DP (FederatedCore's
/// `PoissonSampler`), checked against their exact pmfs by chi-square and by moments.
@Suite struct SkellamNoiseTests {
    /// log P(Poisson(λ) = k), exact to 1e-12: −λ + k log λ − log k! from mpmath at 40 digits
    /// (mp.dps = 40; `-lam + k*log(lam) - loggamma(k+1)`), where the naive Double formula
    /// loses every digit at λ = 3e12.
    @Test(arguments: [
        (12.5, 10.0, -2.3471261299929608974), (1e6, 1_000_500.0, -7.951923004872760828),
        (3e12, 3e12 + 2e6, -15.950422087354819593),
    ])
    func logPMFMatchesMpmath(lambda: Double, k: Double, expected: Double) {
        #expect(abs(PoissonSampler.logPMF(k, lambda: lambda) - expected) < 1e-10)
    }

    /// Pearson's chi-square of `draws` against the pmf `p` on bins of at least 5 expected
    /// draws (the tails merged into the end bins): below df + 6√(2df) (beyond 6 standard
    /// deviations of the statistic), for a sampler that is right.
    static func chiSquare(_ counts: [Int64: Int], draws: Int, range: ClosedRange<Int64>, pmf: (Int64) -> Double)
        -> (statistic: Double, limit: Double)
    {
        var bins: [(expected: Double, observed: Double)] = []
        var expected = 0.0
        var observed = 0.0
        var covered = 0.0
        for k in range {
            let p = pmf(k)
            covered += p
            expected += p * Double(draws)
            observed += Double(counts[k] ?? 0)
            if expected >= 5 {
                bins.append((expected, observed))
                expected = 0
                observed = 0
            }
        }
        // Everything outside the range (and the leftover) into the last bin.
        let outside = counts.filter { !range.contains($0.key) }.reduce(0) { $0 + $1.value }
        let rest = max(0, 1 - covered) * Double(draws) + expected
        if var last = bins.popLast() {
            last.expected += rest
            last.observed += observed + Double(outside)
            bins.append(last)
        }
        let statistic = bins.reduce(0.0) {
            $0 + ($1.observed - $1.expected) * ($1.observed - $1.expected) / $1.expected
        }
        let df = Double(bins.count - 1)
        return (statistic, df + 6 * (2 * df).squareRoot())
    }

    @Test(
        "Poisson draws follow the exact pmf: multiplication below λ = 10, PTRS above",
        arguments: [0.4, 3.0, 9.9, 10.0, 37.2, 1_000.0, 1e6])
    func poissonChiSquare(lambda: Double) {
        var rng = SplitMix64(seed: 0xB0CA + UInt64(lambda * 10))
        let draws = 200_000
        var counts: [Int64: Int] = [:]
        var sum = 0.0
        var squares = 0.0
        for _ in 0..<draws {
            let k = PoissonSampler.sample(mean: lambda, using: &rng)
            counts[k, default: 0] += 1
            sum += Double(k)
            squares += Double(k) * Double(k)
        }
        let spread = 8 * lambda.squareRoot() + 10
        let range = Int64(max(0, (lambda - spread).rounded(.down)))...Int64((lambda + spread).rounded(.up))
        let chi = Self.chiSquare(counts, draws: draws, range: range) {
            exp(PoissonSampler.logPMF(Double($0), lambda: lambda))
        }
        #expect(chi.statistic < chi.limit, "λ = \(lambda): χ² = \(chi.statistic), limit \(chi.limit)")
        // Mean and variance are λ: within 6 standard errors.
        let mean = sum / Double(draws)
        let variance = squares / Double(draws) - mean * mean
        #expect(abs(mean - lambda) < 6 * (lambda / Double(draws)).squareRoot())
        #expect(abs(variance / lambda - 1) < 6 * (2 / Double(draws)).squareRoot() + 3 / lambda / Double(draws))
    }

    @Test(
        "At a run's λ (2·10¹⁴, one PTRS draw) and above 2^50 (a sum of pieces) the mean and variance are λ",
        arguments: [2.1e14, 0x1p51 * 1.37])
    func poissonLargeMoments(lambda: Double) {
        var rng = SplitMix64(seed: 41)
        let draws = 20_000
        var sum = 0.0
        var squares = 0.0
        for _ in 0..<draws {
            let k = Double(PoissonSampler.sample(mean: lambda, using: &rng)) - lambda
            sum += k
            squares += k * k
        }
        let mean = sum / Double(draws)
        #expect(abs(mean) < 6 * (lambda / Double(draws)).squareRoot())
        #expect(abs((squares / Double(draws) - mean * mean) / lambda - 1) < 6 * (2 / Double(draws)).squareRoot())
    }

    /// P(Sk(μ) = k) = e^(−μ) I_|k|(μ), by the Poisson convolution Σ_j P(j + |k|) P(j) at μ/2.
    static func skellamPMF(_ k: Int64, variance mu: Double) -> Double {
        let half = mu / 2
        var total = 0.0
        let shift = Double(abs(k))
        for j in 0..<400 {
            let term =
                PoissonSampler.logPMF(Double(j), lambda: half) + PoissonSampler.logPMF(Double(j) + shift, lambda: half)
            total += exp(term)
        }
        return total
    }

    /// e^(−7) I_k(7) from mpmath (mp.dps = 30): 0.15373774467288125 at k = 0,
    /// 0.077669990359315296 at k = ±3, 0.00020150772410013418 at k = ±10.
    @Test func skellamPMFMatchesBessel() {
        #expect(abs(Self.skellamPMF(0, variance: 7) - 0.15373774467288125) < 1e-14)
        #expect(abs(Self.skellamPMF(-3, variance: 7) - 0.077669990359315296) < 1e-14)
        #expect(abs(Self.skellamPMF(10, variance: 7) - 0.00020150772410013418) < 1e-16)
    }

    @Test("Sk(μ) draws follow e^(−μ) I_|k|(μ) and have variance μ", arguments: [0.8, 7.0, 45.0, 300.0])
    func skellamChiSquare(mu: Double) {
        var rng = SplitMix64(seed: 0x5CE1 + UInt64(mu))
        let draws = 200_000
        var counts: [Int64: Int] = [:]
        var squares = 0.0
        var sum = 0.0
        for _ in 0..<draws {
            let x = rng.nextSkellam(variance: mu)
            counts[x, default: 0] += 1
            sum += Double(x)
            squares += Double(x) * Double(x)
        }
        let spread = Int64((8 * mu.squareRoot()).rounded(.up)) + 8
        let chi = Self.chiSquare(counts, draws: draws, range: -spread...spread) { Self.skellamPMF($0, variance: mu) }
        #expect(chi.statistic < chi.limit, "μ = \(mu): χ² = \(chi.statistic), limit \(chi.limit)")
        let mean = sum / Double(draws)
        #expect(abs(mean) < 6 * (mu / Double(draws)).squareRoot())
        #expect(abs((squares / Double(draws)) / mu - 1) < 8 * (2 / Double(draws)).squareRoot() + 0.02 / mu)
    }

    @Test("Noise added to ring words is two's complement: zero mean, variance μ, reproducible")
    func skellamWords() {
        let mu = 2.5e9
        var words = [UInt32](repeating: 0, count: 50_000)
        var rng = SplitMix64(seed: 9)
        words.withUnsafeMutableBufferPointer { rng.addSkellamNoise(variance: mu, to: $0) }
        let values = words.map { Double(Int32(bitPattern: $0)) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        #expect(abs(mean) < 6 * (mu / Double(values.count)).squareRoot())
        #expect(abs(variance / mu - 1) < 6 * (2 / Double(values.count)).squareRoot())
        #expect(values.contains { $0 < 0 })
        var again = [UInt32](repeating: 0, count: 50_000)
        var same = SplitMix64(seed: 9)
        again.withUnsafeMutableBufferPointer { same.addSkellamNoise(variance: mu, to: $0) }
        #expect(again == words)
    }

    @Test("The ring bound: the noise tail is the smallest a with 2d·e^(−I(a)) ≤ p, and γ is fitted to the ring")
    func ringDesign() throws {
        let v = 1e6
        let d = 10_000
        let a = SkellamRingDesign.noiseTail(variance: v, dimension: d)
        func rate(_ a: Double) -> Double {
            let r = a / v
            return a * asinh(r) - v * ((1 + r * r).squareRoot() - 1)
        }
        let target = log(2 * Double(d) / SkellamRingDesign.wrapProbability)
        #expect(rate(a) >= target && rate(a - 1) < target)
        // About √(2 v log(2d/p)) for a ≪ v (the Gaussian-like regime).
        #expect(abs(a / (2 * v * target).squareRoot() - 1) < 0.01)
        let design = try #require(
            SkellamRingDesign.fitted(clip: 0.5, noiseMultiplier: 1, dimension: 50_000, cohort: 20, threshold: 10))
        #expect(design.ringBits(cohort: 20, threshold: 10) <= 32)
        let wider = SkellamRingDesign(
            clip: 0.5, noiseMultiplier: 1, dimension: 50_000, scale: design.scale * (1 + 1e-6))
        #expect(wider.ringBits(cohort: 20, threshold: 10) == 33)
        #expect(design.l2Sensitivity == design.scale * 0.5 + 50_000.0.squareRoot())
        #expect(design.aggregateVariance == design.l2Sensitivity * design.l2Sensitivity)
        #expect(design.phoneVariance(threshold: 10) == design.aggregateVariance / 10)
        // A narrow ring that cannot hold even γc = 1 with this noise.
        #expect(
            SkellamRingDesign.fitted(
                clip: 0.5, noiseMultiplier: 10, dimension: 1_000_000, cohort: 100, threshold: 22, ringBits: 12)
                == nil)
    }
}
