import Foundation

/// Brute force for the tests: A_α = E_{z∼μ0}[(μ(z) / μ0(z))^α] for μ0 = N(0, σ²) and
/// μ = (1 − q) N(0, σ²) + q N(1, σ²), by composite Simpson's rule on a fine grid, with no
/// series and no binomial coefficient.
enum BruteForce {
    /// log A_α. The integrand, e^(f(z)), is scaled by its largest value on the grid so that
    /// orders whose moments reach e^100 still sum in Double.
    static func logMoment(q: Double, sigma: Double, alpha: Double, intervals: Int = 200_000) -> Double {
        let low = -25 * sigma
        let high = alpha + 25 * sigma
        let h = (high - low) / Double(intervals)
        let logNormalizer = log(sigma * (2 * Double.pi).squareRoot())
        let log1mQ = log1p(-q)
        let logQ = log(q)
        func logIntegrand(_ z: Double) -> Double {
            let u = (2 * z - 1) / (2 * sigma * sigma)
            let a = log1mQ
            let b = logQ + u
            let logRatio = max(a, b) + log1p(exp(-abs(a - b)))
            return -z * z / (2 * sigma * sigma) - logNormalizer + alpha * logRatio
        }
        var peak = -Double.infinity
        for i in 0...intervals { peak = max(peak, logIntegrand(low + Double(i) * h)) }
        var sum = 0.0
        for i in 0...intervals {
            let weight: Double = i == 0 || i == intervals ? 1 : (i % 2 == 1 ? 4 : 2)
            sum += weight * exp(logIntegrand(low + Double(i) * h) - peak)
        }
        return peak + log(sum * h / 3)
    }
}

/// The standard normal CDF Φ, for the Gaussian mechanism's exact privacy profile.
func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

func relativeDifference(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(a), abs(b), 1e-300) }
