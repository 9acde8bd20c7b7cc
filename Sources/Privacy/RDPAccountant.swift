import Foundation

/// How a composed RDP curve becomes one (ε, δ) guarantee.
public enum Conversion: String, Sendable, CaseIterable {
    /// ε = min_α [ T·ε(α) + log((α − 1)/α) − (log δ + log α) / (α − 1) ], clipped at 0
    /// (Canonne, Kamath, Steinke 2020, arXiv:2004.00010, Prop. 12; Asoodeh et al. 2020),
    /// as dp_accounting computes it: orders at or below 1.01 are not used (the bound is
    /// unstable there), and an order whose 1 − e^(−T·ε(α)) < δ² gives ε = 0 (δ ≤ √(1 − e^(−KL))
    /// and KL ≤ D_α). Never larger than `classic`.
    case improved
    /// ε = min_α [ T·ε(α) + log(1/δ) / (α − 1) ] (Mironov 2017, "Rényi Differential
    /// Privacy", Prop. 3), the moments accountant's conversion.
    case classic
}

/// One (ε, δ) figure for T rounds of the Poisson-sampled Gaussian mechanism.
public struct PrivacyGuarantee: Sendable, Equatable {
    public var epsilon: Double
    public var delta: Double
    /// The RDP order α whose bound is the smallest (the first such order in the list on a tie).
    public var order: Double
    public var samplingRate: Double
    public var noiseMultiplier: Double
    public var rounds: Int
    public var conversion: Conversion
}

/// A Rényi-DP accountant for the Poisson-sampled Gaussian mechanism, composed over rounds,
/// as TensorFlow Privacy and Google's dp_accounting (`RdpAccountant` with a
/// `PoissonSampledDpEvent` of a `GaussianDpEvent`, add-or-remove-one) compute it.
public struct RDPAccountant: Sendable, Equatable {
    /// dp_accounting's `DEFAULT_RDP_ORDERS` (google/differential-privacy, checked at commit
    /// b5b0286, 2026-08): 1.1, 1.2, …, 10.9 (each 1 + x/10 in Double), then 11, 12, …, 63,
    /// then 128, 256, 512, 1024. 156 orders.
    public static let defaultOrders: [Double] = {
        var orders: [Double] = (1..<100).map { (x: Int) -> Double in 1 + Double(x) / 10 }
        orders += (11..<64).map { (a: Int) -> Double in Double(a) }
        orders += [128, 256, 512, 1024]
        return orders
    }()

    /// The shorter list of TensorFlow Privacy's older examples (1.25, 1.5, …, 1024).
    public static let legacyOrders: [Double] = [
        1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 128, 256,
        512, 1024,
    ]

    public let orders: [Double]
    public let fractionalSeries: FractionalSeries

    public init(orders: [Double] = defaultOrders, fractionalSeries: FractionalSeries = .dpAccounting)
        throws(PrivacyError)
    {
        try Check.orders(orders)
        self.orders = orders
        self.fractionalSeries = fractionalSeries
    }

    /// T·ε(α) at each of `orders`: RDP composes by addition, so T rounds of the same
    /// mechanism cost T times one round. ∞ marks an order whose series did not converge.
    public func composedRDP(samplingRate q: Double, noiseMultiplier sigma: Double, rounds: Int) throws(PrivacyError)
        -> [Double]
    {
        try Check.rounds(rounds)
        let mechanism = try SampledGaussian(samplingRate: q, noiseMultiplier: sigma)
        if rounds == 0 { return orders.map { _ in 0 } }
        var out: [Double] = []
        out.reserveCapacity(orders.count)
        for order in orders {
            out.append(Double(rounds) * (try mechanism.rdp(order: order, series: fractionalSeries)))
        }
        return out
    }

    /// The (ε, δ) guarantee of T rounds: the composed RDP curve converted at every order, the
    /// smallest kept.
    public func epsilon(
        samplingRate q: Double, noiseMultiplier sigma: Double, rounds: Int, delta: Double,
        conversion: Conversion = .improved
    ) throws(PrivacyError) -> PrivacyGuarantee {
        try Check.delta(delta)
        let rdp = try composedRDP(samplingRate: q, noiseMultiplier: sigma, rounds: rounds)
        var best = Double.infinity
        var bestOrder = orders[0]
        for (alpha, r) in zip(orders, rdp) {
            let candidate = Self.convert(rdp: r, order: alpha, delta: delta, conversion: conversion)
            if candidate < best {
                best = candidate
                bestOrder = alpha
            }
        }
        return PrivacyGuarantee(
            epsilon: max(0, best), delta: delta, order: bestOrder, samplingRate: q, noiseMultiplier: sigma,
            rounds: rounds, conversion: conversion)
    }

    /// The ε one order's composed RDP value r gives at δ.
    public static func convert(rdp r: Double, order alpha: Double, delta: Double, conversion: Conversion) -> Double {
        if r.isNaN || r == .infinity { return .infinity }
        switch conversion {
        case .classic:
            return r + Foundation.log(1 / delta) / (alpha - 1)
        case .improved:
            if delta * delta + Foundation.expm1(-r) > 0 { return 0 }
            guard alpha > 1.01 else { return .infinity }
            return r + Foundation.log1p(-1 / alpha) - Foundation.log(delta * alpha) / (alpha - 1)
        }
    }

    /// The answer to "what noise do we need": the smallest σ (to `relativeTolerance`) whose T
    /// rounds at rate q stay within `targetEpsilon` at δ, and the guarantee at that σ.
    public struct NoiseRequirement: Sendable, Equatable {
        public var targetEpsilon: Double
        /// ε at the returned σ: at most `targetEpsilon`.
        public var guarantee: PrivacyGuarantee
        public var noiseMultiplier: Double { guarantee.noiseMultiplier }
    }

    /// σ is searched in [`noiseSearchRange`]; ε falls as σ grows, so bisection on a bracket
    /// [σ_lo, σ_hi] with ε(σ_lo) > target ≥ ε(σ_hi) returns σ_hi once
    /// σ_hi − σ_lo ≤ `relativeTolerance` · σ_hi.
    public static let noiseSearchRange: ClosedRange<Double> = 1e-3...1e4

    public func noiseMultiplier(
        targetEpsilon: Double, samplingRate q: Double, rounds: Int, delta: Double,
        conversion: Conversion = .improved, relativeTolerance: Double = 1e-6
    ) throws(PrivacyError) -> NoiseRequirement {
        try Check.epsilon(targetEpsilon)
        try Check.samplingRate(q)
        try Check.rounds(rounds)
        try Check.delta(delta)
        guard q > 0, rounds > 0 else {
            throw PrivacyError(
                .noiseSearchFailed,
                "with q = \(q) and \(rounds) rounds nothing about any phone is released (ε = 0 for every σ); "
                    + "pass q above 0 and at least 1 round")
        }
        guard relativeTolerance.isFinite, relativeTolerance > 0, relativeTolerance < 1 else {
            throw PrivacyError(
                .noiseSearchFailed, "relative tolerance must be in (0, 1) (got \(relativeTolerance)); e.g. 1e-6")
        }
        func at(_ sigma: Double) throws(PrivacyError) -> PrivacyGuarantee {
            try epsilon(samplingRate: q, noiseMultiplier: sigma, rounds: rounds, delta: delta, conversion: conversion)
        }
        let range = Self.noiseSearchRange
        // Bracket: from σ = 1, double until the target holds, or halve while it still holds.
        var high = 1.0
        var highGuarantee = try at(high)
        var low = high
        if highGuarantee.epsilon > targetEpsilon {
            repeat {
                low = high
                high *= 2
                guard high <= range.upperBound else {
                    throw PrivacyError(
                        .noiseSearchFailed,
                        "even σ = \(range.upperBound) gives ε above \(targetEpsilon) for q = \(q), "
                            + "\(rounds) rounds, δ = \(delta); raise the target ε, sample fewer phones or run fewer rounds"
                    )
                }
                highGuarantee = try at(high)
            } while highGuarantee.epsilon > targetEpsilon
        } else {
            while true {
                low = high / 2
                guard low >= range.lowerBound else {
                    throw PrivacyError(
                        .noiseSearchFailed,
                        "σ = \(range.lowerBound) already gives ε ≤ \(targetEpsilon) for q = \(q), \(rounds) rounds, "
                            + "δ = \(delta): the target does not constrain the noise; pass a smaller target ε")
                }
                let lowGuarantee = try at(low)
                if lowGuarantee.epsilon > targetEpsilon { break }
                high = low
                highGuarantee = lowGuarantee
            }
        }
        while high - low > relativeTolerance * high {
            let middle = 0.5 * (low + high)
            let guarantee = try at(middle)
            if guarantee.epsilon > targetEpsilon {
                low = middle
            } else {
                high = middle
                highGuarantee = guarantee
            }
        }
        return NoiseRequirement(targetEpsilon: targetEpsilon, guarantee: highGuarantee)
    }
}
