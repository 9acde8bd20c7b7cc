public import FederatedCore

/// What the compromised phones of a run do (`kbd-sim run --attack KIND`): the attack is
/// applied on the phone, to its text before training or to its delta before encoding, so the
/// server sees nothing but an update.
public enum AttackKind: TextParsable, CustomStringConvertible {
    /// Data poisoning (Bagdasaryan et al. 2020): the phone's text also carries the trigger
    /// phrase followed by the target word; the update is what training on it gives.
    case backdoor
    /// Model replacement: backdoor data, and the delta scaled by `factor` (`boost:10`).
    case boost(factor: Double)
    /// Untargeted: the honest delta negated.
    case signFlip
    /// Untargeted: the delta replaced by Gaussian noise of standard deviation `sigma` per
    /// value (`gaussian:0.1`).
    case gaussian(sigma: Double)
    /// Backdoor data, and the delta scaled to just under the defence's norm bound (99% of the
    /// chain's `norm-bound:C`, or of `adaptive:C`), the most a bounded server lets through.
    case adaptive(bound: Double?)

    /// The kinds as written on the command line.
    public static let names = ["backdoor", "boost", "sign-flip", "gaussian", "adaptive"]

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let name = parts.first?.lowercased() ?? ""
        let argument = parts.count > 1 ? parts[1] : nil
        func number(_ what: String, default value: Double?) throws -> Double {
            guard let argument else {
                if let value { return value }
                throw AttackKindError("\(name) needs \(what), e.g. \(name):\(name == "gaussian" ? "0.1" : "10")")
            }
            guard let v = Double(argument), v.isFinite, v > 0 else {
                throw AttackKindError("\(text): \(what) must be a number > 0 (got '\(argument)')")
            }
            return v
        }
        switch name {
        case "backdoor" where argument == nil: self = .backdoor
        case "sign-flip" where argument == nil: self = .signFlip
        case "boost": self = .boost(factor: try number("a factor", default: 10))
        case "gaussian": self = .gaussian(sigma: try number("σ, the noise's standard deviation", default: nil))
        case "adaptive": self = .adaptive(bound: argument == nil ? nil : try number("the bound C", default: nil))
        default:
            throw AttackKindError(
                "'\(text)' is not an attack; use backdoor, boost[:FACTOR], sign-flip, gaussian:σ or adaptive[:C]")
        }
    }

    public var description: String {
        switch self {
        case .backdoor: "backdoor"
        case .boost(let f): "boost:\(f)"
        case .signFlip: "sign-flip"
        case .gaussian(let s): "gaussian:\(s)"
        case .adaptive(let c): c.map { "adaptive:\($0)" } ?? "adaptive"
        }
    }

    /// Whether the compromised phones train on backdoor text (trigger → target).
    public var poisonsText: Bool {
        switch self {
        case .backdoor, .boost, .adaptive: true
        case .signFlip, .gaussian: false
        }
    }
}

/// A bad `--attack` value.
public struct AttackKindError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension RunConfiguration {
    /// The `C` of the chain's `norm-bound:C` (or `norm-bound:c=C,…`), if it has one: what an
    /// adaptive attacker scales its update to just under.
    public var chainNormBound: Double? {
        for entry in effectiveAggregationStages {
            let parts = entry.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0] == "norm-bound" else { continue }
            for item in parts[1].split(separator: ",") {
                let kv = item.split(separator: "=", maxSplits: 1)
                if kv.count == 1 || kv[0].lowercased() == "c", let c = Double(kv.last!) { return c }
            }
        }
        return nil
    }
}
