/// A robust replacement for the round's mean (it takes the place of `sum` in a chain):
/// what it computes from the round's buffered updates.
public enum RobustRule: Sendable, Equatable, CustomStringConvertible {
    /// The coordinate-wise median (`median`).
    case median
    /// The coordinate-wise mean without the `beta` fraction highest and lowest values of each
    /// coordinate (`trimmed-mean:0.1`; `0 ≤ beta < 0.5`).
    case trimmedMean(beta: Double)
    /// The one update with the lowest Krum score, `f` attackers tolerated (`krum:f=2`).
    case krum(f: Int)
    /// The weighted mean of the `m` updates with the lowest Krum scores (`multi-krum:f=2,m=5`).
    case multiKrum(f: Int, m: Int)

    /// The chain names of the robust aggregators.
    public static let names = ["median", "trimmed-mean", "krum", "multi-krum"]

    /// The rule a chain entry `name:argument` names.
    ///
    /// - Throws: ``AggregationError/Code/invalidStage`` naming the setting that is out of range.
    public init(name: String, argument: String?) throws(AggregationError) {
        let entry = argument.map { "\(name):\($0)" } ?? name
        switch name {
        case "median":
            guard argument == nil || argument == "" else {
                throw AggregationError(.invalidStage, "\(entry): median takes no setting; write median")
            }
            self = .median
        case "trimmed-mean":
            let s = try DefenceArguments.parse(argument, stage: name, positional: "beta", allowed: ["beta"])
            guard let beta = s["beta"] else {
                throw AggregationError(
                    .invalidStage, "\(entry): give β, the fraction dropped at each end, e.g. trimmed-mean:0.1")
            }
            guard beta >= 0, beta < 0.5 else {
                throw AggregationError(
                    .invalidStage,
                    "\(entry): β must be in [0, 0.5) (the fraction of values dropped at each end of every coordinate; got \(beta)), e.g. trimmed-mean:0.1"
                )
            }
            self = .trimmedMean(beta: beta)
        case "krum", "multi-krum":
            let allowed = name == "krum" ? ["f"] : ["f", "m"]
            let s = try DefenceArguments.parse(argument, stage: name, positional: "f", allowed: allowed)
            guard let fValue = s["f"] else {
                throw AggregationError(
                    .invalidStage,
                    "\(entry): give f, the attackers tolerated, e.g. \(name == "krum" ? "krum:f=2" : "multi-krum:f=2,m=5")"
                )
            }
            let f = try DefenceArguments.count(fValue, "f", stage: name, argument: argument, minimum: 0)
            if name == "krum" {
                self = .krum(f: f)
            } else {
                guard let mValue = s["m"] else {
                    throw AggregationError(
                        .invalidStage, "\(entry): give m, the updates averaged, e.g. multi-krum:f=\(f),m=5")
                }
                self = .multiKrum(
                    f: f, m: try DefenceArguments.count(mValue, "m", stage: name, argument: argument, minimum: 1))
            }
        default:
            throw AggregationError(
                .invalidStage, "'\(name)' is not a robust aggregator; known: \(Self.names.joined(separator: ", "))")
        }
    }

    /// The chain name.
    public var name: String {
        switch self {
        case .median: "median"
        case .trimmedMean: "trimmed-mean"
        case .krum: "krum"
        case .multiKrum: "multi-krum"
        }
    }

    public var description: String {
        switch self {
        case .median: "median"
        case .trimmedMean(let beta): "trimmed-mean:\(beta)"
        case .krum(let f): "krum:f=\(f)"
        case .multiKrum(let f, let m): "multi-krum:f=\(f),m=\(m)"
        }
    }

    /// The fewest updates a round must bring for the rule to be defined (Krum: `2f + 3`;
    /// multi-Krum also `m + f`).
    public var minimumUpdates: Int {
        switch self {
        case .median, .trimmedMean: 1
        case .krum(let f): Krum.minimumUpdates(f: f)
        case .multiKrum(let f, let m): max(Krum.minimumUpdates(f: f), m + f)
        }
    }

    /// Checks that every kept round, which brings at least `reports` updates, has enough for
    /// the rule.
    ///
    /// - Throws: ``AggregationError/Code/invalidStage`` saying how many updates the setting needs.
    public func check(minimumReports reports: Int) throws(AggregationError) {
        guard reports < minimumUpdates else { return }
        switch self {
        case .median, .trimmedMean:
            return
        case .krum(let f):
            throw AggregationError(
                .invalidStage,
                "\(self) needs more than 2f + 2 = \(2 * f + 2) updates in every round, and a kept round may bring only \(reports); raise the cohort (or the minimum report fraction) or lower f"
            )
        case .multiKrum(let f, let m):
            throw AggregationError(
                .invalidStage,
                "\(self) needs at least \(minimumUpdates) updates in every round (more than 2f + 2 = \(2 * f + 2), and m + f = \(m + f)), and a kept round may bring only \(reports); raise the cohort (or the minimum report fraction) or lower f or m"
            )
        }
    }
}
