import Aggregation
import FederatedCore
import FederationProtocol

/// The aggregation stages a run's chain can name, and how each is built: the one list to
/// extend when a new stage is written.
///
/// A chain is a list of names, each optionally with an argument after a colon
/// (`weight:uniform`). It must start with `decode`, hold one `sum` (or one robust aggregator
/// in its place: `median`, `trimmed-mean:β`, `krum:f=F`, `multi-krum:f=F,m=M`) and end with
/// `server-optimizer`; what comes between is the run's choice.
enum AggregationStages {
    /// What a stage may need to know about the run when it is built.
    struct Context {
        var parameterCount: Int
        var layoutHash: UInt64
        var configuration: RunConfiguration
    }

    typealias Factory = @Sendable (_ argument: String?, _ context: Context) throws -> any AggregationStage

    /// Every stage a chain may name.
    static let registry: [String: Factory] = coreRegistry.merging(defenceRegistry) { own, _ in own }

    /// The stages other than the defences (``defenceRegistry``).
    static let coreRegistry: [String: Factory] = [
        "decode": { _, c in DecodeStage(parameterCount: c.parameterCount, layoutHash: c.layoutHash) },
        "weight": { argument, _ in
            guard let rule = WeightStage.Rule(rawValue: argument ?? "examples") else {
                throw AggregationError(
                    .invalidStage, "weight:\(argument ?? "") is not weight:examples or weight:uniform")
            }
            return WeightStage(rule)
        },
        "sum": { _, _ in SumStage() },
        "norm-histogram": { _, _ in NormHistogramStage() },
        "server-optimizer": { _, c in
            let spec = c.configuration.serverOptimizer.value
            return ServerOptimizerStage(
                spec.kind.makeOptimizer(parameterCount: c.parameterCount), schedule: spec.schedule)
        },
    ]

    /// Splits `name:argument`.
    static func split(_ entry: String) -> (name: String, argument: String?) {
        let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
        return (parts.first ?? "", parts.count > 1 ? parts[1] : nil)
    }

    /// Checks a chain's names and shape without building it.
    static func validate(_ chain: [String]) throws(AggregationError) {
        let names = chain.map { split($0).name }
        for name in names where registry[name] == nil {
            throw AggregationError(
                .invalidStage,
                "unknown aggregation stage '\(name)'; known: \(registry.keys.sorted().joined(separator: ", "))")
        }
        guard names.first == "decode", names.last == "server-optimizer",
            names.filter(aggregatorNames.contains).count == 1
        else {
            throw AggregationError(
                .invalidStage,
                "a chain starts with decode, holds one sum (or one of \(RobustRule.names.joined(separator: ", ")) in its place) and ends with server-optimizer (got \(chain.joined(separator: " → ")))"
            )
        }
        try validateDefences(chain)
    }

    /// Builds the chain `chain` for a run.
    static func pipeline(_ chain: [String], context: Context) throws -> AggregationPipeline {
        try validate(chain)
        return AggregationPipeline(
            try chain.map { entry in
                let (name, argument) = split(entry)
                return try registry[name]!(argument, context)
            })
    }
}
