import Aggregation
import FederatedCore
import FederationProtocol

// The defence stages (issue 17): robust aggregators that take the place of `sum`, and norm
// bounding before it. Kept apart from the registry's other entries so that adding one is
// one line here.
extension AggregationStages {
    /// The stages a chain may hold in the place of `sum`: exactly one of these.
    static let aggregatorNames: Set<String> = Set(["sum"] + RobustRule.names)

    /// Stages that work on each update before it is aggregated, so must come before the
    /// aggregator.
    static let beforeAggregatorNames: Set<String> = ["norm-bound"]

    /// The defences' factories, merged into ``registry``.
    static let defenceRegistry: [String: Factory] = [
        "median": { argument, _ in RobustAggregatorStage(try RobustRule(name: "median", argument: argument)) },
        "trimmed-mean": { argument, _ in
            RobustAggregatorStage(try RobustRule(name: "trimmed-mean", argument: argument))
        },
        "krum": { argument, _ in RobustAggregatorStage(try RobustRule(name: "krum", argument: argument)) },
        "multi-krum": { argument, _ in
            RobustAggregatorStage(try RobustRule(name: "multi-krum", argument: argument))
        },
        "norm-bound": { argument, c in
            try NormBoundStage(argument: argument, seed: SplitMix64.mix(c.configuration.seed ^ 0xB0_0D))
        },
    ]

    /// Checks the defences' place in the chain and their settings without building them.
    static func validateDefences(_ chain: [String]) throws(AggregationError) {
        let entries = chain.map(split)
        guard let aggregator = entries.firstIndex(where: { aggregatorNames.contains($0.name) }) else { return }
        for (i, entry) in entries.enumerated() where beforeAggregatorNames.contains(entry.name) && i > aggregator {
            throw AggregationError(
                .invalidStage,
                "\(entry.name) works on each update before it is aggregated, so it must come before \(entries[aggregator].name) (got \(chain.joined(separator: " → ")))"
            )
        }
        for entry in entries {
            if RobustRule.names.contains(entry.name) {
                _ = try RobustRule(name: entry.name, argument: entry.argument)
            } else if entry.name == "norm-bound" {
                _ = try NormBoundStage(argument: entry.argument, seed: 0)
            }
        }
    }

    /// Checks that every round the run keeps brings enough updates for its robust aggregator
    /// (Krum needs more than 2f + 2).
    static func validateDefences(_ chain: [String], minimumReports: Int) throws(AggregationError) {
        for entry in chain.map(split) where RobustRule.names.contains(entry.name) {
            try RobustRule(name: entry.name, argument: entry.argument).check(minimumReports: minimumReports)
        }
    }
}
