import Aggregation
import FederatedCore
import FederationProtocol

/// The aggregation stages a run's chain can name, and how each is built: the one list to
/// extend when a new stage is written.
///
/// A chain is a list of names, each optionally with an argument after a colon
/// (`weight:uniform`). It must start with `decode`, hold one `sum` (or one robust aggregator
/// in its place: `median`, `trimmed-mean:β`, `krum:f=F`, `multi-krum:f=F,m=M`) and end with
/// `server-optimizer` (or DP-FTRL's `ftrl-tree`); what comes between is the run's choice,
/// except that differential privacy's stages keep their order: bounded weights, then `clip`,
/// then `gaussian-noise`, before the sum.
enum AggregationStages {
    /// What a stage may need to know about the run when it is built.
    struct Context {
        var parameterCount: Int
        var layoutHash: UInt64
        /// The model's tensors' parameter ranges, in order (per-layer clipping).
        var tensorRanges: [Range<Int>] = []
        var configuration: RunConfiguration

        /// The run's privacy settings, which the DP stages are built from.
        func privacy(for stage: String) throws(AggregationError) -> PrivacyConfiguration {
            guard let p = configuration.privacy else {
                throw AggregationError(
                    .invalidStage, "the \(stage) stage needs DP settings: give --dp-noise and --dp-clip")
            }
            return p
        }
    }

    typealias Factory = @Sendable (_ argument: String?, _ context: Context) throws -> any AggregationStage

    /// Every stage a chain may name.
    static let registry: [String: Factory] = coreRegistry.merging(defenceRegistry) { own, _ in own }

    /// The stages other than the defences (``defenceRegistry``).
    static let coreRegistry: [String: Factory] = [
        "decode": { _, c in DecodeStage(parameterCount: c.parameterCount, layoutHash: c.layoutHash) },
        "weight": { argument, _ in
            guard let rule = WeightStage.Rule(argument: argument ?? "examples") else {
                throw AggregationError(
                    .invalidStage,
                    "weight:\(argument ?? "") is not weight:examples, weight:uniform or weight:capped:N (N ≥ 1 tokens)")
            }
            return WeightStage(rule)
        },
        "sum": { _, _ in SumStage() },
        "clip": { _, c in
            let p = try c.privacy(for: "clip")
            let cohort = c.configuration.cohort
            return try ClipStage(
                clipNorm: p.clipNorm, granularity: p.perLayerClipping ? .perLayer(c.tensorRanges) : .flat,
                adaptive: p.adaptiveQuantile.map {
                    ClipStage.Adaptive(
                        targetQuantile: $0, learningRate: p.adaptiveLearningRate,
                        countNoiseStandardDeviation: p.effectiveCountNoise(cohort: cohort))
                }, seed: c.configuration.seed)
        },
        "gaussian-noise": { _, c in
            let p = try c.privacy(for: "gaussian-noise")
            let cohort = c.configuration.cohort
            guard let z = p.updateNoiseMultiplier(cohort: cohort) else {
                throw AggregationError(.invalidStage, "the noise multiplier leaves nothing for the update")
            }
            let quorum = RoundQuorum(cohort: cohort, minimumReportFraction: c.configuration.minimumReportFraction)
            return try GaussianNoiseStage(
                noiseMultiplier: z, cohort: cohort, simulatedCohort: p.simulatedCohort, placement: p.placement,
                distributedShares: max(1, quorum.minimumReports), seed: c.configuration.seed)
        },
        "ftrl-tree": { _, c in
            let p = try c.privacy(for: "ftrl-tree")
            return try TreeAggregationStage(
                noiseMultiplier: p.noiseMultiplier, learningRate: p.treeLearningRate, cohort: c.configuration.cohort,
                simulatedCohort: p.simulatedCohort, seed: c.configuration.seed)
        },
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
        guard names.first == "decode", names.last == "server-optimizer" || names.last == "ftrl-tree",
            names.filter(aggregatorNames.contains).count == 1,
            names.filter({ $0 == "server-optimizer" || $0 == "ftrl-tree" }).count == 1
        else {
            throw AggregationError(
                .invalidStage,
                "a chain starts with decode, holds one sum (or one of \(RobustRule.names.joined(separator: ", ")) in its place) and ends with server-optimizer or ftrl-tree (got \(chain.joined(separator: " → ")))"
            )
        }
        try validateDefences(chain)
        // Differential privacy's order: the clip bounds what the noise is calibrated to, and
        // the weights must be bounded before either.
        func index(_ name: String) -> Int? { names.firstIndex(of: name) }
        if let noise = index("gaussian-noise") ?? index("ftrl-tree") {
            guard let sum = index("sum") else {
                throw AggregationError(
                    .invalidStage,
                    "\(names[noise]) needs the plain sum: a robust aggregator's sensitivity is not the clip norm, so the noise would not bound it"
                )
            }
            guard let clip = index("clip"), clip < noise, clip < sum else {
                throw AggregationError(
                    .invalidStage, "\(names[noise]) needs a clip stage before it and before the sum")
            }
            guard let weight = index("weight"), weight < clip, split(chain[weight]).argument != nil,
                split(chain[weight]).argument != "examples"
            else {
                throw AggregationError(
                    .invalidStage,
                    "\(names[noise]) needs bounded weights (weight:uniform or weight:capped:N) before the clip; example counts are unbounded, so one phone's influence is too"
                )
            }
            if names[noise] == "gaussian-noise", noise > sum {
                throw AggregationError(
                    .invalidStage, "gaussian-noise goes before the sum (it adds to it when the round closes)")
            }
        }
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
