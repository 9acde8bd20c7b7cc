/// FedAvg's server step: `w ← w + η Δ` (η = 1 is McMahan et al.'s original).
public struct FedAvg: ServerOptimizer {
    /// The server learning rate η.
    public var learningRate: Float
    public var name: String { "fedavg" }

    public init(learningRate: Float = 1) { self.learningRate = learningRate }

    public var stateVectors: [[Float]] { [] }

    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        try checkState(vectors, count: 0, length: 0)
    }

    public mutating func step(weights: inout [Float], averageDelta: [Float], learningRateScale: Float) {
        precondition(weights.count == averageDelta.count, "delta and weights differ in size")
        let lr = learningRate * learningRateScale
        weights.withUnsafeMutableBufferPointer { w in
            averageDelta.withUnsafeBufferPointer { d in
                for i in 0..<w.count { w[i] += lr * d[i] }
            }
        }
    }
}

/// FedAvg with server momentum (Hsu et al. 2019): `m ← β m + Δ; w ← w + η m`.
public struct FedAvgMomentum: ServerOptimizer {
    public var learningRate: Float
    public var momentum: Float
    /// The momentum buffer, aligned with the weights.
    public private(set) var velocity: [Float]
    public var name: String { "fedavgm" }

    public init(learningRate: Float, momentum: Float, parameterCount: Int) {
        self.learningRate = learningRate
        self.momentum = momentum
        velocity = [Float](repeating: 0, count: parameterCount)
    }

    public var stateVectors: [[Float]] { [velocity] }

    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        try checkState(vectors, count: 1, length: velocity.count)
        velocity = vectors[0]
    }

    public mutating func step(weights: inout [Float], averageDelta: [Float], learningRateScale: Float) {
        precondition(weights.count == averageDelta.count && velocity.count == weights.count, "sizes differ")
        let (lr, beta) = (learningRate * learningRateScale, momentum)
        velocity.withUnsafeMutableBufferPointer { m in
            weights.withUnsafeMutableBufferPointer { w in
                averageDelta.withUnsafeBufferPointer { d in
                    for i in 0..<w.count {
                        m[i] = beta * m[i] + d[i]
                        w[i] += lr * m[i]
                    }
                }
            }
        }
    }
}

/// FedAdam and FedYogi (Reddi et al. 2020, Algorithm 2), with `Δ` as the negative
/// pseudo-gradient:
///
///     m ← β1 m + (1 − β1) Δ
///     v ← β2 v + (1 − β2) Δ²                      (Adam)
///     v ← v − (1 − β2) Δ² sign(v − Δ²)            (Yogi)
///     w ← w + η m / (√v + τ)
///
/// As in the paper there is no bias correction; τ controls adaptivity.
public struct AdaptiveServerOptimizer: ServerOptimizer {
    public enum Rule: Sendable { case adam, yogi }
    public let rule: Rule
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var tau: Float
    public private(set) var firstMoment: [Float]
    public private(set) var secondMoment: [Float]
    public var name: String { rule == .adam ? "fedadam" : "fedyogi" }

    public init(_ rule: Rule, learningRate: Float, beta1: Float, beta2: Float, tau: Float, parameterCount: Int) {
        self.rule = rule
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.tau = tau
        firstMoment = [Float](repeating: 0, count: parameterCount)
        // Reddi et al. initialise v to τ²; it keeps the first steps bounded by η/τ·(1-β1).
        secondMoment = [Float](repeating: tau * tau, count: parameterCount)
    }

    public var stateVectors: [[Float]] { [firstMoment, secondMoment] }

    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        try checkState(vectors, count: 2, length: firstMoment.count)
        firstMoment = vectors[0]
        secondMoment = vectors[1]
    }

    public mutating func step(weights: inout [Float], averageDelta: [Float], learningRateScale: Float) {
        precondition(weights.count == averageDelta.count && firstMoment.count == weights.count, "sizes differ")
        let (lr, b1, b2, t, yogi) = (learningRate * learningRateScale, beta1, beta2, tau, rule == .yogi)
        firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
                weights.withUnsafeMutableBufferPointer { w in
                    averageDelta.withUnsafeBufferPointer { d in
                        for i in 0..<w.count {
                            let g = d[i]
                            let g2 = g * g
                            m[i] = b1 * m[i] + (1 - b1) * g
                            if yogi {
                                let s: Float = v[i] > g2 ? 1 : (v[i] < g2 ? -1 : 0)
                                v[i] = v[i] - (1 - b2) * g2 * s
                            } else {
                                v[i] = b2 * v[i] + (1 - b2) * g2
                            }
                            w[i] += lr * m[i] / (v[i].squareRoot() + t)
                        }
                    }
                }
            }
        }
    }
}
