import Foundation

/// The (ε, δ) figure of a DP-FTRL run with tree aggregation.
public struct TreeGuarantee: Sendable, Equatable {
    /// ρ of ρ-zCDP: sensitivity² / (2σ²).
    public var rho: Double
    /// The worst-case Σ over tree nodes of (one phone's contributions to the node)², in clip norms².
    public var sensitivitySquared: Int
    /// ε at δ from the RDP curve ε(α) = α·ρ, improved conversion, dp_accounting's orders.
    public var epsilon: Double
    /// The RDP order that gave `epsilon`.
    public var order: Double
    /// ε by the standard zCDP conversion ρ + 2√(ρ log(1/δ)) (Bun and Steinke 2016), looser.
    public var zcdpEpsilon: Double
    public var delta: Double
    public var noiseMultiplier: Double
    public var rounds: Int
    public var minSeparation: Int
    public var maxParticipations: Int
}

/// A zCDP accountant for DP-FTRL with tree aggregation (Kairouz et al. 2021, "Practical and
/// private (deep) learning without sampling or shuffling", arXiv:2103.00039, App. D), with
/// participation limited as in Gboard's DP-FTRL training (Xu et al. 2023, "Federated learning
/// of Gboard language models with differential privacy", arXiv:2305.18465): at most K
/// participations per phone, at least B rounds strictly between two of them (rounds x < y
/// need y − x − 1 ≥ B, tensorflow_privacy's `min_separation`).
///
/// The tree is the online binary tree over T leaves (rounds), without restarts: its nodes are
/// the complete dyadic intervals [j·2^h, (j + 1)·2^h) ⊆ [0, T), each released with Gaussian
/// noise of standard deviation σ (clip norms). A phone that takes part c_v times in node v's
/// rounds moves that node's sum by up to c_v, so the whole release is a Gaussian mechanism with
/// sensitivity² = max over allowed patterns of Σ_v c_v², and ρ = sensitivity² / (2σ²).
public struct TreeAccountant: Sendable {
    public let noiseMultiplier: Double
    public let rounds: Int
    public let minSeparation: Int
    public let maxParticipations: Int
    /// Worked out at `init` (see `maximumSensitivitySquared`).
    public let sensitivitySquared: Int

    public init(noiseMultiplier: Double, rounds: Int, minSeparation: Int, maxParticipations: Int)
        throws(PrivacyError)
    {
        try Check.noiseMultiplier(noiseMultiplier)
        try Check.rounds(rounds)
        guard minSeparation >= 0, maxParticipations >= 1 else {
            throw PrivacyError(
                .invalidParticipation,
                "min separation must be 0 or more and max participations at least 1 "
                    + "(got \(minSeparation) and \(maxParticipations)); e.g. 313 and 6 for 2,000 rounds")
        }
        self.noiseMultiplier = noiseMultiplier
        self.rounds = rounds
        self.minSeparation = minSeparation
        self.maxParticipations = maxParticipations
        sensitivitySquared = Self.maximumSensitivitySquared(
            rounds: rounds, minSeparation: minSeparation, maxParticipations: maxParticipations)
    }

    /// ρ = sensitivity² / (2σ²).
    public var rho: Double { Double(sensitivitySquared) / (2 * noiseMultiplier * noiseMultiplier) }

    /// ε at δ. A Gaussian mechanism of ρ-zCDP has RDP ε(α) = α·ρ at every order; the figure is
    /// that curve converted with `RDPAccountant`'s improved conversion at its default orders,
    /// which is how the Gboard DP-FTRL figures are reported (σ = 7, 2,000 rounds, separation
    /// 313, 6 participations, δ = 1e-10: ρ = 0.81, ε = 8.90).
    public func epsilon(delta: Double) throws(PrivacyError) -> TreeGuarantee {
        try Check.delta(delta)
        let rho = rho
        var best = Double.infinity
        var bestOrder = RDPAccountant.defaultOrders[0]
        for alpha in RDPAccountant.defaultOrders {
            let e = RDPAccountant.convert(rdp: alpha * rho, order: alpha, delta: delta, conversion: .improved)
            if e < best {
                best = e
                bestOrder = alpha
            }
        }
        let zcdp = rho + 2 * (rho * Foundation.log(1 / delta)).squareRoot()
        return TreeGuarantee(
            rho: rho, sensitivitySquared: sensitivitySquared, epsilon: Swift.max(0, best), order: bestOrder,
            zcdpEpsilon: zcdp, delta: delta, noiseMultiplier: noiseMultiplier, rounds: rounds,
            minSeparation: minSeparation, maxParticipations: maxParticipations)
    }

    /// The smallest σ (to `relativeTolerance`) whose tree stays within `targetEpsilon` at δ.
    public static func noiseMultiplier(
        targetEpsilon: Double, rounds: Int, minSeparation: Int, maxParticipations: Int, delta: Double,
        relativeTolerance: Double = 1e-6
    ) throws(PrivacyError) -> TreeGuarantee {
        try Check.epsilon(targetEpsilon)
        try Check.delta(delta)
        let base = try TreeAccountant(
            noiseMultiplier: 1, rounds: rounds, minSeparation: minSeparation, maxParticipations: maxParticipations)
        guard base.sensitivitySquared > 0 else {
            throw PrivacyError(
                .noiseSearchFailed,
                "with \(rounds) rounds nothing is released (ε = 0 for every σ); pass at least 1 round")
        }
        let squared = base.sensitivitySquared
        return try NoiseSearch.smallest(
            target: targetEpsilon, tolerance: relativeTolerance,
            what: "the tree over \(rounds) rounds, separation \(minSeparation), \(maxParticipations) participations"
        ) { (sigma: Double) throws(PrivacyError) -> TreeGuarantee in
            try TreeAccountant(
                checkedNoise: sigma, rounds: rounds, minSeparation: minSeparation,
                maxParticipations: maxParticipations, sensitivitySquared: squared
            ).epsilon(delta: delta)
        } epsilon: {
            $0.epsilon
        }
    }

    private init(
        checkedNoise: Double, rounds: Int, minSeparation: Int, maxParticipations: Int, sensitivitySquared: Int
    ) {
        self.noiseMultiplier = checkedNoise
        self.rounds = rounds
        self.minSeparation = minSeparation
        self.maxParticipations = maxParticipations
        self.sensitivitySquared = sensitivitySquared
    }

    /// max Σ_v c_v² over participation patterns of at most K rounds in [0, T) pairwise more
    /// than B apart, exactly, by dynamic programming over the tree (the recursion of Kairouz
    /// et al. 2021, App. D.2, written afresh):
    ///
    /// A subtree of S leaves is the complete tree when S is a power of 2 (root, then two halves)
    /// and otherwise the complete tree of the largest power P < S followed by the forest of the
    /// other S − P leaves. Its best value with n participations depends on the rest of the tree
    /// only through `start` (its first `start` leaves are too close to an earlier participation)
    /// and `end` (the B leaves blocked after its last participation may run `end` leaves past
    /// it), both in 0…B: a pattern fits iff start + (B + 1)·n ≤ S + end, and the two children
    /// meet through the j ∈ 0…B leaves the left one blocks in the right one. n = 1 needs no
    /// recursion: the deepest allowed leaf is the first one (leaves get shallower to the right).
    ///
    /// Cost: states (subtree size, n, start, end) for the O(log T) subtree sizes that can hold
    /// two participations, each a max over (n + 1)(B + 1) splits; for T = 2,000, B = 313, K = 6
    /// about 10⁷ steps, well under a second in a release build.
    public static func maximumSensitivitySquared(rounds: Int, minSeparation: Int, maxParticipations: Int) -> Int {
        guard rounds >= 1, maxParticipations >= 1 else { return 0 }
        let limit = Swift.min(maxParticipations, rounds, 1 << 20 - 1)
        let solver = TreeSensitivitySolver(rounds: rounds, separation: minSeparation)
        var best = 0
        for n in 1...limit {
            let v = solver.value(size: rounds, count: n, start: 0, end: minSeparation)
            if v < 0 { break }
            best = Swift.max(best, v)
        }
        return best
    }
}

/// The memoized recursion behind `TreeAccountant.maximumSensitivitySquared`.
private final class TreeSensitivitySolver {
    let separation: Int
    let width: Int  // B + 1: leaves one participation occupies with its blocked gap
    var tables: [Int: [Int32]] = [:]  // key size·2²⁰ + count → value per start·width + end
    static let unknown = Int32.min

    init(rounds: Int, separation: Int) {
        self.separation = separation
        self.width = separation + 1
    }

    /// Number of tree nodes over leaf `leaf` of a subtree of `size` leaves.
    func depth(size: Int, leaf: Int) -> Int {
        var s = size
        var a = leaf
        while true {
            let p = 1 << (Int.bitWidth - 1 - s.leadingZeroBitCount)
            if a < p { return p.trailingZeroBitCount + 1 }
            a -= p
            s -= p
        }
    }

    /// The best Σ c² with `count` participations in a subtree of `size` leaves; −1 if none fits.
    func value(size: Int, count: Int, start: Int, end: Int) -> Int {
        if start + width * count > size + end { return -1 }
        if count == 0 { return 0 }
        if count == 1 { return depth(size: size, leaf: start) }
        let key = size << 20 | count
        let slot = start * width + end
        if let table = tables[key], table[slot] != Self.unknown { return Int(table[slot]) }
        let power = 1 << (Int.bitWidth - 1 - size.leadingZeroBitCount)
        let root = power == size ? count * count : 0
        let left = power == size ? size / 2 : power
        let right = size - left
        var best = -1
        for inRight in 0...count {
            for j in 0..<width {
                let l = value(size: left, count: count - inRight, start: start, end: j)
                if l < 0 { continue }
                let r = value(size: right, count: inRight, start: j, end: end)
                if r < 0 { continue }
                best = Swift.max(best, l + r)
            }
        }
        let result = best < 0 ? -1 : root + best
        if tables[key] == nil { tables[key] = [Int32](repeating: Self.unknown, count: width * width) }
        tables[key]![slot] = Int32(result)
        return result
    }
}
