internal import Foundation

/// The neighbourhood size k and share threshold t of a round, chosen from the cohort size and
/// the security and dropout targets (after Bell et al. 2020, §3–4).
///
/// A phone u shares its two secrets t-of-k among its k neighbours. Two things must hold for
/// every phone of the cohort:
///
/// - *Privacy*: fewer than t of u's neighbours collude with the server, or they could rebuild
///   both of u's secrets and unmask its input. With each phone corrupt with probability γ
///   (``corruptFraction``), P[Binomial(k, γ) ≥ t] ≤ 2^−σ / K (σ = ``securityBits``).
/// - *Correctness*: at least t of u's neighbours survive to the unmask stage, or the round is
///   abandoned. With each phone dropping with probability δ (``dropoutFraction``),
///   P[Binomial(k, 1 − δ) < t] ≤ 2^−η / K (η = ``correctnessBits``).
///
/// The union bound over the K phones makes each a per-round bound. ``init(cohortSize:…)``
/// takes the smallest even k ≤ K − 1 for which some t satisfies both, and the smallest such t
/// (the most dropouts tolerated). When no k ≤ K − 1 satisfies both (small cohorts), it takes
/// the complete graph (k = K − 1, SecAgg) with t = ⌊k/2⌋ + 1 and sets ``meetsTargets`` to false.
/// k grows like log K: at γ = 5%, δ = 20%, σ = 40, η = 20, (k, t) is (48, 21) at K = 100, (52, 22) at
/// K = 500 and (54, 23) at K = 1,000; (60, 25) at K = 10,000.
public struct SecureAggregationParameters: Sendable, Hashable {
    /// K.
    public let cohortSize: Int
    /// k: neighbours per phone.
    public let neighbours: Int
    /// t: shares needed to rebuild a secret.
    public let threshold: Int
    /// γ: the assumed fraction of phones colluding with the server.
    public let corruptFraction: Double
    /// δ: the fraction of the cohort that may drop out during the protocol.
    public let dropoutFraction: Double
    /// σ: −log2 of the allowed probability that some phone's neighbourhood holds t colluders.
    public let securityBits: Double
    /// η: −log2 of the allowed probability that the round is abandoned at dropout rate δ.
    public let correctnessBits: Double
    /// Whether (k, t) meets both bounds (false only for small cohorts on the complete graph).
    public let meetsTargets: Bool

    /// Chooses k and t for `cohortSize` phones.
    ///
    /// - Parameters:
    ///   - cohortSize: K ≥ 2.
    ///   - corruptFraction: γ in [0, 1).
    ///   - dropoutFraction: δ in [0, 1).
    ///   - securityBits: σ > 0 (default 40).
    ///   - correctnessBits: η > 0 (default 20).
    public init(
        cohortSize: Int, corruptFraction: Double = 0.05, dropoutFraction: Double = 0.2, securityBits: Double = 40,
        correctnessBits: Double = 20
    ) {
        precondition(cohortSize >= 2, "secure aggregation needs at least two phones")
        precondition((0..<1).contains(corruptFraction) && (0..<1).contains(dropoutFraction), "fractions in [0, 1)")
        self.cohortSize = cohortSize
        self.corruptFraction = corruptFraction
        self.dropoutFraction = dropoutFraction
        self.securityBits = securityBits
        self.correctnessBits = correctnessBits
        let logK = log2(Double(cohortSize))
        let privacyBound = -securityBits - logK
        let correctnessBound = -correctnessBits - logK
        var chosen: (Int, Int)?
        var k = 2
        search: while k <= cohortSize - 1 {
            // Smallest t with log2 P[Bin(k, γ) ≥ t] ≤ privacyBound.
            var tMin: Int?
            for t in 1...k where Self.log2UpperTail(k: k, p: corruptFraction, atLeast: t) <= privacyBound {
                tMin = t
                break
            }
            if let t = tMin,
                Self.log2UpperTail(k: k, p: 1 - dropoutFraction, atLeast: t, complement: true) <= correctnessBound
            {
                chosen = (k, t)
                break search
            }
            k += 2
        }
        if let (k, t) = chosen {
            self.neighbours = k
            self.threshold = t
            self.meetsTargets = true
        } else {
            self.neighbours = cohortSize - 1
            self.threshold = (cohortSize - 1) / 2 + 1
            self.meetsTargets = false
        }
    }

    /// Explicit k and t (tests, or a deployment that fixes them).
    public init(cohortSize: Int, neighbours: Int, threshold: Int) {
        precondition(cohortSize >= 2, "secure aggregation needs at least two phones")
        let k = min(neighbours, cohortSize - 1)
        precondition(threshold >= 1 && threshold <= k, "need 1 ≤ t ≤ k (t = \(threshold), k = \(k))")
        self.cohortSize = cohortSize
        self.neighbours = k
        self.threshold = threshold
        self.corruptFraction = .nan
        self.dropoutFraction = .nan
        self.securityBits = .nan
        self.correctnessBits = .nan
        self.meetsTargets = false
    }

    /// log2 P[Binomial(k, p) ≥ t], or with `complement` log2 P[Binomial(k, p) < t], summed in
    /// log space so tails of 2^−60 stay exact.
    static func log2UpperTail(k: Int, p: Double, atLeast t: Int, complement: Bool = false) -> Double {
        let range = complement ? 0..<t : t..<(k + 1)
        guard !range.isEmpty else { return -.infinity }
        if p <= 0 { return (complement ? range.contains(0) : range.contains(0)) ? 0 : -.infinity }
        let lp = log(p)
        let lq = log1p(-p)
        var terms: [Double] = []
        for i in range {
            let logChoose = lgamma(Double(k + 1)) - lgamma(Double(i + 1)) - lgamma(Double(k - i + 1))
            terms.append(logChoose + Double(i) * lp + Double(k - i) * lq)
        }
        let top = terms.max()!
        let sum = terms.reduce(0) { $0 + exp($1 - top) }
        return (top + log(sum)) / log(2.0)
    }
}
