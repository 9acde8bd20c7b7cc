import Foundation

/// How a round picks the phones whose clipped updates it sums before the noise.
public enum Sampling: Sendable, Equatable, CustomStringConvertible {
    /// Each phone independently with probability `rate` (add-or-remove-one neighbours).
    case poisson(rate: Double)
    /// A uniformly random cohort of exactly `cohort` phones out of `population`, without
    /// replacement (replace-one neighbours).
    case withoutReplacement(cohort: Int, population: Int)
    /// Every phone every round: the Gaussian mechanism itself (add-or-remove-one).
    case none

    public var description: String {
        switch self {
        case .poisson(let rate): "Poisson sampling at rate \(rate)"
        case .withoutReplacement(let cohort, let population):
            "\(cohort) of \(population) phones without replacement"
        case .none: "no sampling (every phone every round)"
        }
    }

    /// The probability that one given phone's record is in a round's sum.
    public var rate: Double {
        switch self {
        case .poisson(let rate): rate
        case .withoutReplacement(let cohort, let population): Double(cohort) / Double(population)
        case .none: 1
        }
    }

    /// How far one phone moves the sum, in clip norms: 1 when a phone is added or removed,
    /// 2 when one phone's update is replaced by another's (both of norm at most 1).
    var sensitivity: Double {
        if case .withoutReplacement = self { return 2 }
        return 1
    }

    func validate() throws(PrivacyError) {
        switch self {
        case .poisson(let rate): try Check.samplingRate(rate)
        case .withoutReplacement(let cohort, let population):
            guard population >= 1, cohort >= 0, cohort <= population else {
                throw PrivacyError(
                    .invalidCohort,
                    "cohort must be in 0…population and the population at least 1 (got \(cohort) of \(population)); "
                        + "pass the phones per round and the phones that could be picked")
            }
        case .none: break
        }
    }
}

/// One (ε, δ) figure for T rounds from the privacy loss distribution.
public struct PLDGuarantee: Sendable, Equatable {
    public var epsilon: Double
    public var delta: Double
    public var rounds: Int
    public var noiseMultiplier: Double
    public var sampling: Sampling
    /// The grid interval the figure was computed on: the one asked for, or a coarser one when
    /// the composed distribution would not fit `DiscretePLD.maximumLength` points (a coarser
    /// grid is still an upper bound, only a looser one).
    public var discretization: Double
}

/// The privacy loss distribution of T rounds, composed once, to ask for ε at several δ (or
/// δ at several ε) at the cost of a scan each.
public struct ComposedPLD: Sendable, Equatable {
    /// One PLD per direction ("remove" and "add"; one when both are the same): ε and δ are
    /// the worse of the two.
    var directions: [DiscretePLD]
    public let rounds: Int
    public let discretization: Double

    /// The smallest ε ≥ 0 such that every direction's hockey-stick divergence at ε is at most δ;
    /// ∞ if no finite ε is.
    public func epsilon(delta: Double) throws(PrivacyError) -> Double {
        try Check.delta(delta)
        return directions.map { $0.epsilon(delta: delta) }.max() ?? 0
    }

    /// δ(ε): the larger hockey-stick divergence of the two directions.
    public func delta(epsilon: Double) throws(PrivacyError) -> Double {
        guard !epsilon.isNaN, epsilon >= 0 else {
            throw PrivacyError(.invalidEpsilon, "ε must be a number at least 0 (got \(epsilon)); e.g. 1, 3 or 8")
        }
        return directions.map { $0.delta(epsilon: epsilon) }.max() ?? 0
    }
}

/// A privacy loss distribution (PLD) accountant for the sampled Gaussian mechanism with
/// sensitivity 1 (the clip norm) and noise multiplier σ, composed over rounds: the numerical
/// method of Koskela, Jälkö, Honkela (2020) and Google's dp_accounting `PLDAccountant`, with
/// pessimistic "connect the dots" discretization (Doroshenko et al. 2022), so every figure is
/// an upper bound on the true ε (up to the 1e-15 truncated tail counted in δ).
///
/// - Poisson sampling at rate q, add-or-remove-one: the "remove" pair
///   ((1 − q) N(0, σ²) + q N(−1, σ²), N(0, σ²)) and the "add" pair (N(0, σ²),
///   (1 − q) N(0, σ²) + q N(1, σ²)); ε is the larger of the two.
/// - Sampling without replacement, m of n, replace-one: the same two pairs with q = m/n and
///   shift 2 (one phone's update replaced by another's moves the sum by up to 2 clip norms):
///   the dominating pair (γ P + (1 − γ) Q, Q) of subsampling without replacement under
///   substitution (Zhu, Dong, Wang 2022, "Optimal accounting of differential privacy via
///   characteristic function"), with (P, Q) = (N(2, σ²), N(0, σ²)) and γ = m/n, both orders.
/// - No sampling: the Gaussian mechanism, μ = 1/σ; T rounds are one Gaussian mechanism with
///   μ = √T/σ, discretized directly (no FFT).
///
/// Cost: `init` discretizes one round (about (2·range/h) normal-CDF evaluations, ~10⁵ at
/// h = 1e-4); each `epsilon(rounds:delta:)` composes by one forward and one inverse FFT of the
/// composed window's length (a few ms for Gboard-like settings in a release build; see
/// docs/privacy.md), so a server that asks after each round pays one composition per ask.
/// Use `composed(rounds:)` to ask several δ or ε of the same T.
public struct PLDAccountant: Sendable {
    public static let defaultDiscretization = 1e-4
    /// The grid reaches the losses of the points this many σ beyond the means; the mass beyond
    /// (Φ(−10) ≈ 7.6e-24 a round) is counted at +∞.
    public static let tailStandardDeviations = 10.0

    public let sampling: Sampling
    public let noiseMultiplier: Double
    public let discretization: Double
    /// One round's PLDs at `discretization`, when they fit the grid.
    private let single: [DiscretePLD]?

    public init(sampling: Sampling, noiseMultiplier: Double, discretization: Double = defaultDiscretization)
        throws(PrivacyError)
    {
        try sampling.validate()
        try Check.noiseMultiplier(noiseMultiplier)
        guard discretization.isFinite, discretization > 0, discretization <= 1 else {
            throw PrivacyError(
                .invalidDiscretization,
                "discretization interval must be a number in (0, 1] (got \(discretization)); the default is 1e-4")
        }
        self.sampling = sampling
        self.noiseMultiplier = noiseMultiplier
        self.discretization = discretization
        let q = sampling.rate
        single =
            q == 0 || q == 1 ? nil : Self.oneRound(sampling: sampling, sigma: noiseMultiplier, interval: discretization)
    }

    /// ε at δ after `rounds` rounds.
    public func epsilon(rounds: Int, delta: Double) throws(PrivacyError) -> PLDGuarantee {
        try Check.delta(delta)
        let composed = try composed(rounds: rounds)
        return PLDGuarantee(
            epsilon: try composed.epsilon(delta: delta), delta: delta, rounds: rounds,
            noiseMultiplier: noiseMultiplier, sampling: sampling, discretization: composed.discretization)
    }

    /// δ at ε after `rounds` rounds.
    public func delta(rounds: Int, epsilon: Double) throws(PrivacyError) -> Double {
        try composed(rounds: rounds).delta(epsilon: epsilon)
    }

    /// The PLD of `rounds` rounds.
    public func composed(rounds: Int) throws(PrivacyError) -> ComposedPLD {
        try Check.rounds(rounds)
        let q = sampling.rate
        let mu = sampling.sensitivity / noiseMultiplier
        if rounds == 0 || q == 0 {
            let nothing = DiscretePLD(interval: discretization, lowerIndex: 0, probabilities: [1], infinityMass: 0)
            return ComposedPLD(directions: [nothing], rounds: rounds, discretization: discretization)
        }
        var h = discretization
        while true {
            if q == 1 {
                // T Gaussian mechanisms compose into one with μ√T (their losses add as Gaussians).
                let muT = mu * Double(rounds).squareRoot()
                let range = GaussianProfile.removeRange(mu: muT, q: 1, z: Self.tailStandardDeviations)
                let grid = DiscretePLD.gridBounds(low: range.low, high: range.high, interval: h)
                if grid.upper - grid.lower + 1 <= DiscretePLD.maximumLength {
                    let pld = DiscretePLD.connectingTheDots(interval: h, lower: grid.lower, upper: grid.upper) {
                        GaussianProfile.delta(epsilon: $0, mu: muT)
                    }
                    return ComposedPLD(directions: [pld], rounds: rounds, discretization: h)
                }
            } else if let one = h == discretization
                ? single : Self.oneRound(sampling: sampling, sigma: noiseMultiplier, interval: h)
            {
                var composed: [DiscretePLD] = []
                for direction in one {
                    guard let c = direction.selfComposed(rounds) else { break }
                    composed.append(c)
                }
                if composed.count == one.count {
                    return ComposedPLD(directions: composed, rounds: rounds, discretization: h)
                }
            }
            h *= 2
            guard h <= 1 else {
                throw PrivacyError(
                    .invalidRounds,
                    "\(rounds) rounds do not fit a PLD grid of \(DiscretePLD.maximumLength) points even at interval 1 "
                        + "(the ε is astronomically large); use fewer rounds, more noise or a lower rate")
            }
        }
    }

    /// The "remove" and "add" PLDs of one round at grid interval h, or nil if either grid is
    /// longer than `DiscretePLD.maximumLength`.
    static func oneRound(sampling: Sampling, sigma: Double, interval h: Double) -> [DiscretePLD]? {
        let q = sampling.rate
        let mu = sampling.sensitivity / sigma
        let range = GaussianProfile.removeRange(mu: mu, q: q, z: tailStandardDeviations)
        let removeGrid = DiscretePLD.gridBounds(low: range.low, high: range.high, interval: h)
        let addGrid = DiscretePLD.gridBounds(low: -range.high, high: -range.low, interval: h)
        for grid in [removeGrid, addGrid] where grid.upper - grid.lower + 1 > DiscretePLD.maximumLength {
            return nil
        }
        let remove = DiscretePLD.connectingTheDots(interval: h, lower: removeGrid.lower, upper: removeGrid.upper) {
            GaussianProfile.removeDelta(epsilon: $0, mu: mu, q: q)
        }
        let add = DiscretePLD.connectingTheDots(interval: h, lower: addGrid.lower, upper: addGrid.upper) {
            GaussianProfile.addDelta(epsilon: $0, mu: mu, q: q)
        }
        return [remove, add]
    }

    /// The answer to "what noise do we need" under the PLD accountant.
    public struct NoiseRequirement: Sendable, Equatable {
        public var targetEpsilon: Double
        /// ε at the returned σ: at most `targetEpsilon`.
        public var guarantee: PLDGuarantee
        public var noiseMultiplier: Double { guarantee.noiseMultiplier }
    }

    /// The smallest σ (to `relativeTolerance`, within `RDPAccountant.noiseSearchRange`) whose
    /// `rounds` rounds stay within `targetEpsilon` at δ: ε falls as σ grows, so σ is bracketed
    /// from 1 by doubling or halving and then bisected.
    public static func noiseMultiplier(
        targetEpsilon: Double, sampling: Sampling, rounds: Int, delta: Double,
        discretization: Double = defaultDiscretization, relativeTolerance: Double = 1e-4
    ) throws(PrivacyError) -> NoiseRequirement {
        try Check.epsilon(targetEpsilon)
        try sampling.validate()
        try Check.rounds(rounds)
        try Check.delta(delta)
        guard sampling.rate > 0, rounds > 0 else {
            throw PrivacyError(
                .noiseSearchFailed,
                "with \(sampling) and \(rounds) rounds nothing about any phone is released (ε = 0 for every σ); "
                    + "sample at least one phone and run at least 1 round")
        }
        guard relativeTolerance.isFinite, relativeTolerance > 0, relativeTolerance < 1 else {
            throw PrivacyError(
                .noiseSearchFailed, "relative tolerance must be in (0, 1) (got \(relativeTolerance)); e.g. 1e-4")
        }
        let search = try NoiseSearch.smallest(
            target: targetEpsilon, tolerance: relativeTolerance,
            what: "\(sampling), \(rounds) rounds, δ = \(delta)"
        ) { (sigma: Double) throws(PrivacyError) -> PLDGuarantee in
            try PLDAccountant(sampling: sampling, noiseMultiplier: sigma, discretization: discretization)
                .epsilon(rounds: rounds, delta: delta)
        } epsilon: {
            $0.epsilon
        }
        return NoiseRequirement(targetEpsilon: targetEpsilon, guarantee: search)
    }
}

/// The bracketing-and-bisection noise search every accountant shares.
enum NoiseSearch {
    /// The guarantee at the smallest σ found (to `tolerance`, relative) in
    /// `RDPAccountant.noiseSearchRange` whose ε is at most `target`; ε must fall as σ grows.
    static func smallest<G>(
        target: Double, tolerance: Double, what: String, at: (Double) throws(PrivacyError) -> G,
        epsilon: (G) -> Double
    ) throws(PrivacyError) -> G {
        let range = RDPAccountant.noiseSearchRange
        var high = 1.0
        var highGuarantee = try at(high)
        var low = high
        if epsilon(highGuarantee) > target {
            repeat {
                low = high
                high *= 2
                guard high <= range.upperBound else {
                    throw PrivacyError(
                        .noiseSearchFailed,
                        "even σ = \(range.upperBound) gives ε above \(target) for \(what); "
                            + "raise the target ε, sample fewer phones or run fewer rounds")
                }
                highGuarantee = try at(high)
            } while epsilon(highGuarantee) > target
        } else {
            while true {
                low = high / 2
                guard low >= range.lowerBound else {
                    throw PrivacyError(
                        .noiseSearchFailed,
                        "σ = \(range.lowerBound) already gives ε ≤ \(target) for \(what): "
                            + "the target does not constrain the noise; pass a smaller target ε")
                }
                let lowGuarantee = try at(low)
                if epsilon(lowGuarantee) > target { break }
                high = low
                highGuarantee = lowGuarantee
            }
        }
        while high - low > tolerance * high {
            let middle = 0.5 * (low + high)
            let guarantee = try at(middle)
            if epsilon(guarantee) > target {
                low = middle
            } else {
                high = middle
                highGuarantee = guarantee
            }
        }
        return highGuarantee
    }
}
