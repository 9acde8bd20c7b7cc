import Foundation

/// The exact privacy profile of the Gaussian mechanism without amplification, composed:
/// `k` releases of a sum with sensitivity Δ and noise N(0, (zΔ)²) each are together μ-GDP
/// with μ = √k / z (Dong, Roth, Su 2019), and μ-GDP holds at (ε, δ(ε)) exactly for
///
///     δ(ε) = Φ(−ε/μ + μ/2) − e^ε · Φ(−ε/μ − μ/2)
///
/// (Balle and Wang 2018, Theorem 8). This is the accountant for what a fleet *enforces*: a
/// phone that took part in at most `k` rounds, whatever the selection, is covered by it,
/// with no sampling assumption.
public enum GaussianMechanismAccountant {
    /// δ at `epsilon` for μ-GDP.
    public static func delta(epsilon: Double, mu: Double) -> Double {
        precondition(mu > 0 && epsilon >= 0, "mu must be positive and epsilon non-negative")
        return GaussianProfile.delta(epsilon: epsilon, mu: mu)
    }

    /// The smallest ε with δ(ε) ≤ `delta` for μ-GDP (bisection to a relative width of 1e-12).
    ///
    /// - Precondition: `0 < delta < 1`, `mu > 0`.
    public static func epsilon(delta target: Double, mu: Double) -> Double {
        precondition(target > 0 && target < 1, "delta must be in (0, 1)")
        if delta(epsilon: 0, mu: mu) <= target { return 0 }
        var low = 0.0
        var high = max(1.0, mu * mu)
        while delta(epsilon: high, mu: mu) > target { high *= 2 }
        while high - low > 1e-12 * high {
            let mid = (low + high) / 2
            if delta(epsilon: mid, mu: mu) > target { low = mid } else { high = mid }
        }
        return high
    }

    /// ε at `delta` for `participations` releases with noise multiplier `noiseMultiplier`
    /// (μ = √k / z); 0 for no participation.
    public static func epsilon(noiseMultiplier: Double, participations: Int, delta: Double) -> Double {
        precondition(noiseMultiplier > 0, "the noise multiplier must be positive")
        guard participations > 0 else { return 0 }
        return epsilon(delta: delta, mu: Double(participations).squareRoot() / noiseMultiplier)
    }
}
