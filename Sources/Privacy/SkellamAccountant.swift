import Foundation

/// One (ε, δ) figure for k releases of the multi-dimensional Skellam mechanism.
public struct SkellamGuarantee: Sendable, Equatable {
    public var epsilon: Double
    public var delta: Double
    /// The integer RDP order α whose bound is the smallest.
    public var order: Double
    /// k, the releases composed (a phone's participations).
    public var participations: Int
    /// μ, the variance of the aggregate noise Sk(μ) per coordinate.
    public var variance: Double
    /// Δ₁ and Δ₂, the integer sensitivities.
    public var l1Sensitivity: Double
    public var l2Sensitivity: Double
}

/// Rényi DP of the multi-dimensional Skellam mechanism, composed without amplification.
///
/// Sk(μ) is the paper's symmetric Skellam: Poisson(μ/2) − Poisson(μ/2), variance μ, pmf
/// e^(−μ) I_|k|(μ) (Agarwal, Kairouz, Liu 2021, "The Skellam Mechanism for Differentially
/// Private Federated Learning", NeurIPS 2021). For an integer vector query with L1
/// sensitivity Δ₁ and L2 sensitivity Δ₂ released with independent Sk(μ) noise per
/// coordinate, their Theorem 3.5 gives, for every integer α > 1,
///
///     ε(α) ≤ α Δ₂² / (2μ) + min( ((2α − 1) Δ₂² + 6 Δ₁) / (4μ²), 3 Δ₁ / (2μ) ).
///
/// The first term is the Gaussian mechanism's RDP at variance μ; the minimum is the price of
/// discreteness, which vanishes as μ grows. (With Poisson(μ) − Poisson(μ), variance 2μ, the
/// same bound reads α Δ₂²/(4μ) + min(((2α − 1)Δ₂² + 6Δ₁)/(16μ²), 3Δ₁/(4μ)).) RDP adds over
/// the k rounds a phone takes part in; the curve is converted at the integer orders of
/// ``RDPAccountant/defaultOrders`` by ``RDPAccountant/convert(rdp:order:delta:conversion:)``.
/// No amplification by sampling is claimed: a phone in k rounds is covered whatever the
/// selection.
public enum SkellamAccountant {
    /// The integer orders of ``RDPAccountant/defaultOrders`` (2…63, 128, 256, 512, 1024): the
    /// theorem holds at integer α only.
    public static let orders: [Double] = RDPAccountant.defaultOrders.filter { $0 == $0.rounded() }

    /// ε(α) of one release (the theorem's bound).
    public static func rdp(order alpha: Double, variance mu: Double, l1Sensitivity d1: Double, l2Sensitivity d2: Double)
        -> Double
    {
        let gaussian = alpha * d2 * d2 / (2 * mu)
        let discrete = Swift.min(((2 * alpha - 1) * d2 * d2 + 6 * d1) / (4 * mu * mu), 3 * d1 / (2 * mu))
        return gaussian + discrete
    }

    /// The proven integer sensitivities of one phone's rounded vector v = round_s(γx) with
    /// ‖x‖₂ ≤ c in d coordinates, by the deterministic bound: each coordinate moves by less
    /// than 1, so ‖v‖₂ ≤ γc + √d = Δ₂, and an integer vector has ‖v‖₁ ≤ min(√d·‖v‖₂, ‖v‖₂²),
    /// so Δ₁ = min(√d·Δ₂, Δ₂²). (Conditional rounding, Kairouz et al. 2021, is not used.)
    public static func roundedSensitivity(clip c: Double, scale gamma: Double, dimension d: Int) -> (
        l1: Double, l2: Double
    ) {
        let root = Double(d).squareRoot()
        let l2 = gamma * c + root
        return (Swift.min(root * l2, l2 * l2), l2)
    }

    /// (ε, δ) after `participations` releases of Sk(`variance`) noise on a query of the given
    /// sensitivities.
    ///
    /// - Throws: ``PrivacyError`` for δ outside (0, 1), a negative count, or a variance or
    ///   sensitivity that is not a finite positive number.
    public static func epsilon(
        variance mu: Double, l1Sensitivity d1: Double, l2Sensitivity d2: Double, participations k: Int,
        delta: Double, conversion: Conversion = .improved
    ) throws(PrivacyError) -> SkellamGuarantee {
        try Check.delta(delta)
        try Check.rounds(k)
        guard mu.isFinite, mu > 0 else {
            throw PrivacyError(
                .invalidNoiseMultiplier, "the Skellam variance μ must be a finite number above 0 (got \(mu))")
        }
        guard d1.isFinite, d1 > 0, d2.isFinite, d2 > 0 else {
            throw PrivacyError(
                .invalidNoiseMultiplier,
                "the sensitivities Δ₁ and Δ₂ must be finite numbers above 0 (got \(d1), \(d2))")
        }
        var guarantee = SkellamGuarantee(
            epsilon: 0, delta: delta, order: orders[0], participations: k, variance: mu, l1Sensitivity: d1,
            l2Sensitivity: d2)
        guard k > 0 else { return guarantee }
        var best = Double.infinity
        for alpha in orders {
            let r = Double(k) * rdp(order: alpha, variance: mu, l1Sensitivity: d1, l2Sensitivity: d2)
            let candidate = RDPAccountant.convert(rdp: r, order: alpha, delta: delta, conversion: conversion)
            if candidate < best {
                best = candidate
                guarantee.order = alpha
            }
        }
        guarantee.epsilon = Swift.max(0, best)
        return guarantee
    }

    /// (ε, δ) of the distributed Skellam mechanism of a run: clip c, scale γ, d coordinates,
    /// noise multiplier z (μ = z²Δ₂²), `participations` rounds per phone.
    public static func epsilon(
        noiseMultiplier z: Double, clip c: Double, scale gamma: Double, dimension d: Int, participations k: Int,
        delta: Double, conversion: Conversion = .improved
    ) throws(PrivacyError) -> SkellamGuarantee {
        try Check.noiseMultiplier(z)
        guard c.isFinite, c > 0, gamma.isFinite, gamma > 0, d >= 1 else {
            throw PrivacyError(
                .invalidNoiseMultiplier,
                "the clip c and scale γ must be finite numbers above 0 and the dimension d ≥ 1 (got \(c), \(gamma), \(d))"
            )
        }
        let s = roundedSensitivity(clip: c, scale: gamma, dimension: d)
        return try epsilon(
            variance: z * z * s.l2 * s.l2, l1Sensitivity: s.l1, l2Sensitivity: s.l2, participations: k,
            delta: delta, conversion: conversion)
    }
}
