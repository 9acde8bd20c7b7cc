import Foundation

/// The server's step: turns the round's average client delta into new global weights.
///
/// Client deltas are `local − global` (the direction the clients moved), so plain FedAvg
/// adds the average delta. Adaptive optimizers treat `Δ` as a pseudo-gradient with the
/// sign flipped (Reddi et al. 2020, "Adaptive Federated Optimization"). Every optimizer
/// keeps its state (momentum, second moments) in flat arrays aligned with the weights.
public protocol ServerOptimizer: Sendable {
    /// A short name for tables and run configs, e.g. `fedadam`.
    var name: String { get }

    /// Applies one round's average delta to `weights`, with the learning rate multiplied by
    /// `learningRateScale` (a ``ServerLearningRateSchedule``'s factor for the round).
    ///
    /// - Precondition: `averageDelta.count == weights.count`.
    mutating func step(weights: inout [Float], averageDelta: [Float], learningRateScale: Float)

    /// The optimizer's state vectors (momentum, moments), for checkpoints; empty for FedAvg.
    var stateVectors: [[Float]] { get }

    /// Restores state saved from ``stateVectors`` (a resumed run continues exactly).
    ///
    /// - Throws: ``AggregationError`` if the vectors do not fit this optimizer.
    mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError)
}

extension ServerOptimizer {
    /// Applies one round's average delta at the optimizer's own learning rate.
    public mutating func step(weights: inout [Float], averageDelta: [Float]) {
        step(weights: &weights, averageDelta: averageDelta, learningRateScale: 1)
    }

    /// Checks saved state against the expected number and length of vectors.
    func checkState(_ vectors: [[Float]], count: Int, length: Int) throws(AggregationError) {
        guard vectors.count == count, vectors.allSatisfy({ $0.count == length }) else {
            throw AggregationError(
                .shapeMismatch,
                "\(name) keeps \(count) state vectors of \(length) values; the checkpoint has \(vectors.count) of \(vectors.map(\.count))"
            )
        }
    }
}

/// Which server optimizer a run uses, with its hyperparameters; parses from the CLI.
public enum ServerOptimizerKind: Sendable, Equatable, CustomStringConvertible {
    case fedAvg(learningRate: Float)
    case fedAvgMomentum(learningRate: Float, momentum: Float)
    case fedAdam(learningRate: Float, beta1: Float, beta2: Float, tau: Float)
    case fedYogi(learningRate: Float, beta1: Float, beta2: Float, tau: Float)

    /// Parses `fedavg`, `fedavgm`, `fedadam`, `fedyogi`, optionally with `:lr=…,momentum=…,
    /// beta1=…,beta2=…,tau=…,halflife=…`; the schedule (`halflife`) is
    /// ``parseWithSchedule(_:)``'s to return.
    public init(parsing text: String) throws {
        self = try Self.parseWithSchedule(text).kind
    }

    /// Parses the optimizer and its learning-rate schedule: `halflife=R` halves the server
    /// learning rate every `R` rounds (default 0: constant).
    public static func parseWithSchedule(_ text: String) throws -> (
        kind: ServerOptimizerKind, schedule: ServerLearningRateSchedule
    ) {
        let parts = text.split(separator: ":", maxSplits: 1)
        let name = parts.first.map { $0.lowercased() } ?? ""
        var values: [String: Float] = [:]
        if parts.count == 2 {
            for item in parts[1].split(separator: ",") {
                let kv = item.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, let v = Float(kv[1]), v.isFinite else {
                    throw AggregationError(.invalidOptimizer, "'\(item)' in '\(text)' is not KEY=NUMBER")
                }
                values[String(kv[0])] = v
            }
        }
        func take(_ key: String, _ fallback: Float, _ range: ClosedRange<Float>) throws -> Float {
            let v = values.removeValue(forKey: key) ?? fallback
            guard range.contains(v) else {
                throw AggregationError(
                    .invalidOptimizer, "\(key)=\(v) in '\(text)' is outside \(range.lowerBound)…\(range.upperBound)")
            }
            return v
        }
        let schedule = ServerLearningRateSchedule(halfLife: Double(try take("halflife", 0, 0...1_000_000)))
        let kind: ServerOptimizerKind
        switch name {
        case "fedavg":
            kind = .fedAvg(learningRate: try take("lr", 1, 1e-6...100))
        case "fedavgm":
            kind = .fedAvgMomentum(
                learningRate: try take("lr", 1, 1e-6...100), momentum: try take("momentum", 0.9, 0...0.999))
        case "fedadam", "fedyogi":
            let lr = try take("lr", 0.01, 1e-6...100)
            let b1 = try take("beta1", 0.9, 0...0.9999)
            let b2 = try take("beta2", 0.99, 0...0.99999)
            let tau = try take("tau", 1e-3, 1e-9...1)
            kind =
                name == "fedadam"
                ? .fedAdam(learningRate: lr, beta1: b1, beta2: b2, tau: tau)
                : .fedYogi(learningRate: lr, beta1: b1, beta2: b2, tau: tau)
        default:
            throw AggregationError(
                .invalidOptimizer,
                "unknown server optimizer '\(name)'; use fedavg, fedavgm, fedadam or fedyogi (e.g. fedadam:lr=0.01,tau=0.001)"
            )
        }
        if let unknown = values.keys.sorted().first {
            throw AggregationError(.invalidOptimizer, "'\(unknown)' is not a parameter of \(name)")
        }
        return (kind, schedule)
    }

    /// A fresh optimizer of this kind for `parameterCount` weights.
    public func makeOptimizer(parameterCount: Int) -> any ServerOptimizer {
        switch self {
        case .fedAvg(let lr): FedAvg(learningRate: lr)
        case .fedAvgMomentum(let lr, let m):
            FedAvgMomentum(learningRate: lr, momentum: m, parameterCount: parameterCount)
        case .fedAdam(let lr, let b1, let b2, let tau):
            AdaptiveServerOptimizer(
                .adam, learningRate: lr, beta1: b1, beta2: b2, tau: tau, parameterCount: parameterCount)
        case .fedYogi(let lr, let b1, let b2, let tau):
            AdaptiveServerOptimizer(
                .yogi, learningRate: lr, beta1: b1, beta2: b2, tau: tau, parameterCount: parameterCount)
        }
    }

    public var description: String {
        switch self {
        case .fedAvg(let lr): "fedavg:lr=\(lr)"
        case .fedAvgMomentum(let lr, let m): "fedavgm:lr=\(lr),momentum=\(m)"
        case .fedAdam(let lr, let b1, let b2, let tau): "fedadam:lr=\(lr),beta1=\(b1),beta2=\(b2),tau=\(tau)"
        case .fedYogi(let lr, let b1, let b2, let tau): "fedyogi:lr=\(lr),beta1=\(b1),beta2=\(b2),tau=\(tau)"
        }
    }
}

/// How the server learning rate changes over a run: it halves every ``halfLife`` rounds
/// (`lr · 0.5^((round − 1) / halfLife)`), or stays constant when ``halfLife`` is 0.
///
/// A decaying rate keeps a long run from undoing its progress once the same heavy devices
/// are revisited with full-size adaptive steps (seen on NUS SMS with a constant FedAdam rate).
public struct ServerLearningRateSchedule: Sendable, Equatable {
    /// Rounds over which the learning rate halves; 0 keeps it constant.
    public var halfLife: Double

    public init(halfLife: Double = 0) { self.halfLife = halfLife }

    /// The factor on the learning rate in `round` (1-based): 1 in round 1.
    public func scale(round: Int) -> Float {
        guard halfLife > 0 else { return 1 }
        return Float(pow(0.5, Double(max(round, 1) - 1) / halfLife))
    }
}
