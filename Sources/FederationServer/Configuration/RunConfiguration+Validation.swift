import Aggregation
import FederatedCore
import Federation
public import FederationProtocol
import KeyboardCorpus

// Whether this server can run a configuration: the values' ranges, and the names only the
// server's registries know (aggregation stages) and the model kinds' own checks.
extension RunConfiguration {
    /// Checks every field; the first problem is thrown as a ``FederationError`` naming the
    /// flag to change.
    public func validate() throws(FederationError) {
        func bad(_ flag: String, _ rule: String, _ value: Any) -> FederationError {
            FederationError(.invalidConfiguration, "--\(flag) must be \(rule) (got \(value))")
        }
        guard !corpus.isEmpty else { throw bad("corpus", "a corpus file or synthetic", "nothing") }
        guard (1...1_000_000).contains(vocabularySize) else { throw bad("vocab", "in 1…1000000", vocabularySize) }
        guard (1...100_000_000).contains(devices) else { throw bad("devices", "in 1…100000000", devices) }
        guard (1...100_000).contains(cohort) else { throw bad("cohort", "in 1…100000", cohort) }
        guard (1...1_000_000).contains(rounds) else { throw bad("rounds", "in 1…1000000", rounds) }
        guard (1...10).contains(overSelection) else { throw bad("over-selection", "in 1…10", overSelection) }
        guard (1...86_400).contains(reportingDeadline) else {
            throw bad("deadline", "in 1…86400 seconds", reportingDeadline)
        }
        guard (0...1).contains(minimumReportFraction) else {
            throw bad("min-report-fraction", "in 0…1", minimumReportFraction)
        }
        if let homeWiFiFraction, !(0...1).contains(homeWiFiFraction) {
            throw bad("home-wifi-fraction", "in 0…1", homeWiFiFraction)
        }
        guard (1...365).contains(trainingDays) else { throw bad("training-days", "in 1…365", trainingDays) }
        try client.validate()
        guard (0...604_800).contains(roundInterval) else {
            throw bad("round-interval", "in 0…604800 seconds", roundInterval)
        }
        guard evalEvery >= 0 else { throw bad("eval-every", "0 or more", evalEvery) }
        guard checkpointEvery >= 0 else { throw bad("checkpoint-every", "0 or more", checkpointEvery) }
        try validatePrivacy()
        // Before the chain's own checks: under masking a per-update stage is refused for that reason.
        try validateSecureAggregation()
        do { try AggregationStages.validate(effectiveAggregationStages) } catch {
            throw FederationError(.invalidConfiguration, "--aggregation: \(error.message)", cause: error)
        }
        do {
            try AggregationStages.validateDefences(
                effectiveAggregationStages,
                minimumReports: max(
                    1, RoundQuorum(cohort: cohort, minimumReportFraction: minimumReportFraction).minimumReports))
        } catch {
            throw FederationError(
                .invalidConfiguration,
                "--aggregation: \(error.message) (--cohort \(cohort) with --min-report-fraction \(minimumReportFraction) keeps rounds of \(RoundQuorum(cohort: cohort, minimumReportFraction: minimumReportFraction).minimumReports) reports)",
                cause: error)
        }
        try validateAttack()
        try validateEvaluation()
        try validateShards()
        try model.validate(vocabularySize: vocabularySize)
    }

    /// The stages that can run on shards' partial sums: per update they only decode, weight,
    /// clip and add, and nothing of theirs but the sum and the clip tally (which the partial
    /// carries) goes from one update to the next; the noise, the tree and the server
    /// optimizer act once on the merged sum, on the coordinator.
    static let shardableStages: Set<String> = [
        "decode", "weight", "clip", "gaussian-noise", "sum", "ftrl-tree", "server-optimizer",
    ]

    /// `--shard-size` (docs/scale-out.md): neural models, a size within the cohort, and a
    /// chain whose stages before the server optimizer look at each update alone.
    func validateShards() throws(FederationError) {
        guard let shardSize else { return }
        guard (1...cohort).contains(shardSize) else {
            throw FederationError(
                .invalidConfiguration, "--shard-size must be in 1…\(cohort) (the cohort) phones (got \(shardSize))")
        }
        guard case .neural = model else {
            throw FederationError(
                .invalidConfiguration,
                "--shard-size needs a neural model: n-gram counts are summed exactly in any order and are not sharded")
        }
        guard secureAggregation == nil else {
            throw FederationError(
                .invalidConfiguration,
                "--shard-size with --secure-aggregation is not built yet (it needs one SecAgg+ instance per shard); drop one of them"
            )
        }
        if privacy?.adaptiveQuantile != nil {
            throw FederationError(
                .invalidConfiguration,
                "--shard-size with adaptive clipping (--dp-adaptive-quantile) is not built: the clip norm moves every round on the coordinator, and workers clip at the configured one; drop one of them"
            )
        }
        for stage in effectiveAggregationStages {
            let name = String(stage.prefix { $0 != ":" })
            guard Self.shardableStages.contains(name) else {
                throw FederationError(
                    .invalidConfiguration,
                    "--shard-size: the \(name) stage needs every update of the round on one server (or keeps per-round state across updates), so it cannot run on shards' partial sums; drop --shard-size or use a chain of decode, weight, clip, gaussian-noise, sum, ftrl-tree and server-optimizer"
                )
            }
        }
    }

    /// The split, per-user, personalization and regression settings (issue 18).
    func validateEvaluation() throws(FederationError) {
        if let split {
            guard split == "users" || split == "per-user" else {
                throw FederationError(.invalidConfiguration, "--split must be users or per-user (got '\(split)')")
            }
            if split == "per-user", (try? SyntheticSpec.resolve(corpusArgument: corpus)) ?? nil != nil {
                throw FederationError(
                    .invalidConfiguration,
                    "--split per-user needs a corpus file: a synthetic phone types new text every day, so its evaluation users are kept apart (--split users)"
                )
            }
        }
        if let userThreshold, !(userThreshold >= 0 && userThreshold <= 1) {
            throw FederationError(
                .invalidConfiguration, "--user-threshold must be an acc@1 in [0, 1] (got \(userThreshold))")
        }
        try personalization?.validate()
        try regressionGuard?.validate()
        if client.proximalMu.map({ !($0.isFinite && $0 >= 0) }) == true {
            throw FederationError(
                .invalidConfiguration,
                "--fedprox-mu must be 0 or more (got \(client.proximalMu!)); 0 is FedAvg, Li et al. use 0.001 to 1")
        }
    }
}

extension RunConfiguration {
    /// Checks the differential-privacy and participation settings against the rest of the
    /// run: each problem names the flag to change.
    func validatePrivacy() throws(FederationError) {
        func bad(_ flag: String, _ rule: String) -> FederationError {
            FederationError(.invalidConfiguration, "--\(flag) \(rule)")
        }
        if let limits = participation {
            if let m = limits.maximumParticipations, m < 1 {
                throw bad("max-participations", "must be at least 1 (got \(m))")
            }
            if let b = limits.minimumSeparation {
                guard b >= 1 else { throw bad("min-separation", "must be at least 1 round (got \(b))") }
                guard b < rounds else {
                    throw bad(
                        "min-separation",
                        "of \(b) rounds is not shorter than the run's \(rounds) rounds: every phone could take part once only; lower it or set --max-participations 1"
                    )
                }
            }
        }
        guard let p = privacy else {
            let needing = ["clip", "gaussian-noise", "ftrl-tree"]
            if let stage = effectiveAggregationStages.map({ AggregationStages.split($0).name }).first(
                where: needing.contains)
            {
                throw bad("aggregation", "names \(stage), which needs DP settings: give --dp-noise and --dp-clip")
            }
            return
        }
        guard p.noiseMultiplier > 0, p.noiseMultiplier.isFinite else {
            throw bad("dp-noise", "must be a positive noise multiplier (got \(p.noiseMultiplier))")
        }
        switch model {
        case .ngram(let order):
            return try validateCountPrivacy(p, order: order)
        case .neural:
            guard p.countBounds == nil else {
                throw bad(
                    "dp-max-ngrams",
                    "is for the n-gram models (kn2…kn5); --model \(modelName) is neural, whose updates are clipped with --dp-clip C"
                )
            }
        }
        guard p.clipNorm > 0, p.clipNorm.isFinite else {
            throw bad("dp-clip", "must be a positive L2 norm (got \(p.clipNorm))")
        }
        if let d = p.delta, !(d > 0 && d < 1) { throw bad("dp-delta", "must be in (0, 1) (got \(d))") }
        if let k = p.simulatedCohort, k < cohort {
            throw bad("dp-simulated-cohort", "(\(k)) must be at least --cohort (\(cohort))")
        }
        if p.simulatedCohort != nil, p.accounting == .participation, participation?.maximumParticipations == nil {
            throw bad(
                "dp-simulated-cohort",
                "with --dp-accounting participation needs --max-participations: the simulated cohort's participations are not simulated, so ε must rest on an enforced bound (or use --dp-accounting poisson, which assumes sampling)"
            )
        }
        guard WeightStage.Rule(argument: p.weighting)?.bound != nil else {
            throw bad(
                "dp-weighting",
                "must bound each phone's weight: uniform or capped:N (got \(p.weighting)); example counts let one phone outweigh the clip"
            )
        }
        if let g = p.adaptiveQuantile {
            guard g > 0, g < 1 else { throw bad("dp-adaptive-quantile", "must be in (0, 1) (got \(g))") }
            guard p.adaptiveLearningRate > 0, p.adaptiveLearningRate.isFinite else {
                throw bad("dp-adaptive-rate", "must be positive (got \(p.adaptiveLearningRate))")
            }
            if let s = p.adaptiveCountNoise, !(s > 0 && s.isFinite) {
                throw bad("dp-count-noise", "must be positive (got \(s))")
            }
            guard p.updateNoiseMultiplier(cohort: cohort) != nil else {
                throw bad(
                    "dp-count-noise",
                    "(σ_b = \(p.effectiveCountNoise(cohort: cohort))) leaves no noise for the update at --dp-noise \(p.noiseMultiplier): adaptive clipping needs 2·σ_b > z; raise it or the noise"
                )
            }
            guard p.mechanism == .gaussian else {
                throw bad(
                    "dp-adaptive-quantile",
                    "cannot be used with --dp-mechanism \(p.mechanism.rawValue): its accounting needs a fixed clip"
                )
            }
            guard p.placement == .central else {
                throw bad(
                    "dp-adaptive-quantile", "needs --dp-noise-placement central (the count is noised by the server)")
            }
        }
        switch p.mechanism {
        case .tree:
            guard p.accounting == .tree else {
                throw bad("dp-accounting", "must be tree with --dp-mechanism tree (got \(p.accounting.rawValue))")
            }
            guard p.placement == .central else {
                throw bad("dp-noise-placement", "must be central with --dp-mechanism tree (the server holds the tree)")
            }
            guard p.treeLearningRate > 0, p.treeLearningRate.isFinite else {
                throw bad("dp-ftrl-lr", "must be positive (got \(p.treeLearningRate))")
            }
        case .gaussian:
            guard p.accounting != .tree else {
                throw bad("dp-accounting", "tree needs --dp-mechanism tree (DP-FTRL)")
            }
        case .skellam:
            guard secureAggregation != nil else {
                throw bad(
                    "dp-mechanism",
                    "skellam is distributed DP under secure aggregation (the phones' noise travels in the masked sum); add --secure-aggregation or use --dp-mechanism gaussian"
                )
            }
        }
        if p.accounting == .tree {
            guard let m = participation?.maximumParticipations, let b = participation?.minimumSeparation else {
                throw bad(
                    "dp-accounting",
                    "tree needs the fleet to enforce --max-participations and --min-separation (its guarantee rests on them)"
                )
            }
            guard b * (m - 1) < rounds else {
                throw bad(
                    "max-participations",
                    "\(m) with --min-separation \(b) needs \(b * (m - 1) + 1) rounds; the run has \(rounds)")
            }
        }
    }
}
