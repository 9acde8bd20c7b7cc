import Foundation

/// Log-space arithmetic for the RDP sums: every term is kept as its logarithm, so
/// exp((k² − k) / (2σ²)) at order 1024 never overflows.
enum LogMath {
    /// log(e^a + e^b), exact for −∞ (log 0) on either side.
    @inline(__always)
    static func add(_ a: Double, _ b: Double) -> Double {
        let (low, high) = a < b ? (a, b) : (b, a)
        if low == -.infinity { return high }
        return high + Foundation.log1p(Foundation.exp(low - high))
    }

    /// log |Γ(x)|, through the reentrant `lgamma_r` (the C `lgamma` writes a global sign).
    @inline(__always)
    static func logAbsGamma(_ x: Double) -> Double {
        let (value, _) = Foundation.lgamma(x)
        return value
    }

    /// log |C(n, k)| = log Γ(n + 1) − log Γ(k + 1) − log Γ(n − k + 1), for real n and integer k ≥ 0.
    /// −∞ when n is an integer and k > n (the coefficient is 0).
    @inline(__always)
    static func logAbsBinomial(_ n: Double, _ k: Double) -> Double {
        let rest = n - k + 1
        if rest <= 0 && rest == rest.rounded() { return -.infinity }
        return logAbsGamma(n + 1) - logAbsGamma(k + 1) - logAbsGamma(rest)
    }

    /// log(erfc(x)), accurate where erfc(x) underflows: the asymptotic expansion
    /// erfc(x) = e^(−x²) / (x √π) · (1 − 1/(2x²) + 3/(2x²)² − 15/(2x²)³ + …) above x = 20,
    /// where its terms shrink below 1e-20 before they grow.
    static func logErfc(_ x: Double) -> Double {
        if x < 20 { return Foundation.log(Foundation.erfc(x)) }
        let inverseTwoX2 = 1 / (2 * x * x)
        var term = 1.0
        var series = 1.0
        for n in 1...12 {
            term *= -Double(2 * n - 1) * inverseTwoX2
            series += term
        }
        return -x * x - Foundation.log(x) - 0.5 * Foundation.log(Double.pi) + Foundation.log(series)
    }
}
