public import Aggregation
public import ArgumentParser
public import FederationProtocol

/// `kbd-sim run`'s user-level differential-privacy and participation flags (also in
/// `bench quant`): they become the run's ``PrivacyConfiguration`` and ``ParticipationLimits``.
struct PrivacyOptions: ParsableArguments {
    @Option(
        name: .customLong("dp-noise"),
        help: ArgumentHelp(
            "Differential privacy: the noise multiplier z (noise std = z × clip norm on the sum). Turns on DP-FedAvg with --dp-clip.",
            valueName: "z"))
    var noise: Double?

    @Option(
        name: .customLong("dp-clip"),
        help: ArgumentHelp(
            "The L2 clip norm C of each phone's update (the initial one with adaptive clipping).", valueName: "C"))
    var clip: Double?

    @Flag(
        name: .customLong("dp-per-layer"),
        help: "Clip each tensor to C·sqrt(n_l/n) instead of the whole update to C (same sensitivity).")
    var perLayer = false

    @Option(
        name: .customLong("dp-adaptive-quantile"),
        help: ArgumentHelp(
            "Adaptive clipping (Andrew et al. 2021): C follows this quantile of the update norms, e.g. 0.5.",
            valueName: "γ"))
    var adaptiveQuantile: Double?

    @Option(
        name: .customLong("dp-adaptive-rate"),
        help: ArgumentHelp("Adaptive clipping's geometric rate η.", valueName: "η"))
    var adaptiveRate: Double = 0.2

    @Option(
        name: .customLong("dp-count-noise"),
        help: ArgumentHelp(
            "Adaptive clipping: the noise std σ_b on the unclipped count (default: cohort / 20).", valueName: "σ_b"))
    var countNoise: Double?

    @Option(
        name: .customLong("dp-weighting"),
        help: ArgumentHelp("Bounded weights: uniform, or capped:N (tokens, weight min(n, N)/N).", valueName: "rule"))
    var weighting: String = "uniform"

    @Option(
        name: .customLong("dp-noise-placement"),
        help: ArgumentHelp(
            "central (the server adds the noise) or distributed (every update carries a share).", valueName: "where"))
    var placement: GaussianNoiseStage.Placement = .central

    @Option(
        name: .customLong("dp-mechanism"),
        help: ArgumentHelp(
            "gaussian (DP-FedAvg), tree (DP-FTRL with tree aggregation) or skellam (distributed DP under --secure-aggregation, its default there).",
            valueName: "mechanism"))
    var mechanism: PrivacyConfiguration.Mechanism = .gaussian

    @Option(name: .customLong("dp-ftrl-lr"), help: ArgumentHelp("DP-FTRL's server learning rate.", valueName: "η"))
    var ftrlLearningRate: Double = 1

    @Option(
        name: .customLong("dp-simulated-cohort"),
        help: ArgumentHelp(
            "Calibrate the noise as if K' phones reported (noise × K/K'); outputs label the run, and ε uses K'.",
            valueName: "K'"))
    var simulatedCohort: Int?

    @Option(
        name: .customLong("dp-delta"),
        help: ArgumentHelp("δ (default: the largest power of ten ≤ 1/(10 × devices)).", valueName: "δ"))
    var delta: Double?

    @Option(
        name: .customLong("dp-accounting"),
        help: ArgumentHelp(
            "What ε rests on: participation (default: what the fleet enforces, no sampling assumption), poisson (ASSUMES Poisson sampling at q = cohort/devices), tree (DP-FTRL; needs --max-participations and --min-separation).",
            valueName: "basis"))
    var accounting: PrivacyConfiguration.Accounting = .participation

    @Option(
        name: .customLong("dp-max-ngrams"),
        help: ArgumentHelp(
            "n-gram models: DP counts, each phone contributing at most M distinct n-grams of each order per round (its most frequent). Turns on DP counts with --dp-noise.",
            valueName: "M"))
    var maxNGrams: Int?

    @Option(
        name: .customLong("dp-max-count"),
        help: ArgumentHelp("n-gram models: the most one phone counts one n-gram in a round.", valueName: "c"))
    var maxCount: Int?

    @Option(
        name: .customLong("dp-count-threshold"),
        help: ArgumentHelp(
            "n-gram models: release a noisy summed count only from τ up (default: the smallest τ that spends at most δ/10 on n-grams only one phone counted).",
            valueName: "τ"))
    var countThreshold: Int?

    @Option(name: .long, help: "The most rounds one phone may report in (selection skips phones at the limit).")
    var maxParticipations: Int?

    @Option(
        name: .long,
        help: "The fewest rounds between two reports of one phone (selection skips phones not yet allowed).")
    var minSeparation: Int?

    /// Whether any DP flag besides the two that turn it on was given.
    private var anyDetail: Bool {
        perLayer || adaptiveQuantile != nil || countNoise != nil || weighting != "uniform" || placement != .central
            || mechanism != .gaussian || simulatedCohort != nil || delta != nil || accounting != .participation
            || maxCount != nil || countThreshold != nil
    }

    /// Checks that the flags make one DP setting; `noiseElsewhere`: the noise comes from
    /// another flag (`bench privacy --noise-multipliers`), so --dp-noise must not be given.
    func check(noiseElsewhere: Bool = false) throws {
        if noiseElsewhere {
            if noise != nil { throw ValidationError("pass the noise in --noise-multipliers, not --dp-noise") }
            if clip == nil, maxNGrams == nil {
                throw ValidationError(
                    "a privacy benchmark needs --dp-clip C (or --dp-max-ngrams M for an n-gram model)")
            }
            return
        }
        if clip != nil, maxNGrams != nil {
            throw ValidationError(
                "give --dp-clip (neural models) or --dp-max-ngrams (n-gram models), not both: n-gram counts are bounded by --dp-max-ngrams and --dp-max-count"
            )
        }
        let bound = clip != nil || maxNGrams != nil
        if (noise == nil) != !bound {
            throw ValidationError(
                "differential privacy needs --dp-noise with --dp-clip (neural models) or with --dp-max-ngrams (n-gram models)"
            )
        }
        if noise == nil, anyDetail {
            throw ValidationError("the --dp-* settings need --dp-noise and --dp-clip (differential privacy is off)")
        }
        if clip != nil, maxCount != nil || countThreshold != nil {
            throw ValidationError("--dp-max-count and --dp-count-threshold are for n-gram models, with --dp-max-ngrams")
        }
    }

    /// The run's privacy settings, or nil when DP is off; `noise` overrides --dp-noise;
    /// `ngramOrder` is the order of an n-gram model (nil: neural), whose clip norm is the
    /// counts' sensitivity.
    func configuration(noise override: Double? = nil, ngramOrder: Int? = nil) -> PrivacyConfiguration? {
        guard let noise = override ?? noise else { return nil }
        var bounds: PrivacyConfiguration.CountBounds?
        if let maxNGrams {
            bounds = .init(maximumNGramsPerOrder: maxNGrams, maximumCount: maxCount ?? 1, threshold: countThreshold)
        }
        // An n-gram run's "clip" is its sensitivity; a neural model given --dp-max-ngrams keeps
        // 0 and is refused by the run's validation, which names the flag.
        guard let clip = clip ?? bounds.map({ b in ngramOrder.map { b.sensitivity(order: $0) } ?? 0 }) else {
            return nil
        }
        var p = PrivacyConfiguration(noiseMultiplier: noise, clipNorm: clip)
        p.countBounds = bounds
        p.perLayerClipping = perLayer
        p.adaptiveQuantile = adaptiveQuantile
        p.adaptiveLearningRate = adaptiveRate
        p.adaptiveCountNoise = countNoise
        p.weighting = weighting
        p.placement = placement
        p.mechanism = mechanism
        p.treeLearningRate = ftrlLearningRate
        p.simulatedCohort = simulatedCohort
        p.delta = delta
        p.accounting = accounting
        return p
    }

    /// The run's participation limits, or nil.
    var limits: ParticipationLimits? {
        guard maxParticipations != nil || minSeparation != nil else { return nil }
        return ParticipationLimits(maximumParticipations: maxParticipations, minimumSeparation: minSeparation)
    }
}

extension GaussianNoiseStage.Placement: ExpressibleByArgument {}
extension PrivacyConfiguration.Mechanism: ExpressibleByArgument {}
extension PrivacyConfiguration.Accounting: ExpressibleByArgument {}
