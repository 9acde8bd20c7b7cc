public import FederatedCore
public import LanguageModelTypes
public import UpdateCodec

// The messages of the round protocol (Bonawitz et al. 2019): the same values travel as
// Swift values in-process and as JSON (or raw bytes for models and updates) over HTTP.

/// Where a run stands when a fleet attaches to it (new or resumed).
public struct RunAttachment: Codable, Sendable, Equatable {
    public var runID: Int64
    /// The run's configuration, as stored.
    public var configuration: RunConfiguration
    /// The next round to run (1 for a new run).
    public var nextRound: Int
    /// Virtual time the next round may start.
    public var virtualTime: Int
    /// Bytes of the current model download.
    public var modelBytes: Int
    /// nwp-v1 figures of the model the run starts from, on the evaluation users: for a new
    /// run whose configuration asks for it (``RunConfiguration/evaluateStart``), else nil.
    public var startEvaluation: NextWordMetrics?
    /// Who has reported so far, when the run limits participation
    /// (``RunConfiguration/participation``): the fleet's selection skips phones the limits
    /// do not allow yet. nil otherwise.
    public var participation: ParticipationLedger?

    /// An attachment, as the server reports it.
    public init(runID: Int64, configuration: RunConfiguration, nextRound: Int, virtualTime: Int, modelBytes: Int) {
        self.runID = runID
        self.configuration = configuration
        self.nextRound = nextRound
        self.virtualTime = virtualTime
        self.modelBytes = modelBytes
    }
}

/// The fleet coordinator's selection for one round (the devices it found eligible and picked).
public struct RoundOpening: Codable, Sendable, Equatable {
    public var round: Int
    /// Selected devices, in selection order.
    public var selected: [UInt32]
    /// Virtual time of selection.
    public var virtualStart: Int
    /// Virtual time after which reports are refused.
    public var deadline: Int

    public init(round: Int, selected: [UInt32], virtualStart: Int, deadline: Int) {
        self.round = round
        self.selected = selected
        self.virtualStart = virtualStart
        self.deadline = deadline
    }
}

/// What the server tells a checked-in device to do: the round's training plan.
public struct TrainingPlan: Codable, Sendable, Equatable {
    public var runID: Int64
    public var round: Int
    /// The global model version the device must download (rounds committed so far).
    public var modelVersion: Int
    /// Bytes of the model download.
    public var modelBytes: Int
    /// Codec scheme for the update (neural models).
    public var codec: ParsedSetting<CodecScheme>
    /// How the device trains, as the run configured it.
    public var client: ClientTrainingConfiguration
    /// Virtual time after which the report is refused.
    public var deadline: Int
    /// Whether the device should also evaluate the downloaded model on its own text.
    public var federatedEval: Bool
    /// n-gram runs: the last local day whose text this device has already contributed.
    public var contributedThroughDay: Int?
    /// Secure aggregation: the grid the whole cohort quantizes on (nil: the codec as usual).
    public var secureAggregation: SecureAggregationGrid?

    /// A plan, as the server hands it to a checked-in device.
    public init(
        runID: Int64, round: Int, modelVersion: Int, modelBytes: Int, codec: ParsedSetting<CodecScheme>,
        client: ClientTrainingConfiguration, deadline: Int, federatedEval: Bool, contributedThroughDay: Int? = nil
    ) {
        self.runID = runID
        self.round = round
        self.modelVersion = modelVersion
        self.modelBytes = modelBytes
        self.codec = codec
        self.client = client
        self.deadline = deadline
        self.federatedEval = federatedEval
        self.contributedThroughDay = contributedThroughDay
    }
}

/// Extra fields a device sends with its update.
public struct UploadExtras: Codable, Sendable, Equatable {
    /// Virtual time of the report.
    public var virtualTime: Int
    /// Federated evaluation of the downloaded model on the device's text, if asked.
    public var evaluation: NextWordMetrics?
    /// n-gram runs: the local day through which this update's text goes.
    public var textThroughDay: Int?
    /// Runs with shards (``RunConfiguration/shardSize``): the aggregation shard of this
    /// update, its position among the round's reporting phones divided by the shard size.
    public var shard: Int?

    public init(virtualTime: Int, evaluation: NextWordMetrics? = nil, textThroughDay: Int? = nil, shard: Int? = nil) {
        self.virtualTime = virtualTime
        self.evaluation = evaluation
        self.textThroughDay = textThroughDay
        self.shard = shard
    }
}

/// The server's acknowledgement of an upload.
public struct UploadReceipt: Codable, Sendable, Equatable {
    /// False when this exact update had already been accepted (an idempotent retry).
    public var accepted: Bool
    /// Reports accepted so far in the round.
    public var reportsSoFar: Int

    /// A receipt, as the server acknowledges an upload.
    public init(accepted: Bool, reportsSoFar: Int) {
        self.accepted = accepted
        self.reportsSoFar = reportsSoFar
    }
}

/// What the fleet coordinator reports when it closes a round: the fleet's side of it.
public struct RoundClosing: Codable, Sendable, Equatable {
    public var round: Int
    public var virtualStart: Int
    public var virtualEnd: Int
    /// Virtual time the next round may start (at or after ``virtualEnd``).
    public var nextRoundStart: Int
    public var selected: Int
    public var dropped: Int
    public var stragglers: Int
    public var surplus: Int
    /// Bytes all participating devices downloaded.
    public var bytesDown: Int64
    /// Wall seconds the fleet spent on the round (selection, training, uploads).
    public var wallSeconds: Double
    /// Of which local training.
    public var trainSeconds: Double
    /// Reporting devices by their local hour of day (index 0…23) at the virtual time they
    /// reported: 24 counts summing to the round's accepted reports. Optional, so a fleet that
    /// does not send it (an older client) still closes rounds; the round then stores none.
    public var reportingLocalHours: [Int]?
    /// Eligible phones selection passed over because the participation limits did not allow
    /// them yet (nil: no limits, or an older fleet).
    public var skippedByLimits: Int?
    /// Secure aggregation's costs in this round, as the fleet measured them (nil: not used).
    public var secureAggregation: SecureAggregationReport?

    public init(
        round: Int, virtualStart: Int, virtualEnd: Int, nextRoundStart: Int? = nil, selected: Int, dropped: Int,
        stragglers: Int,
        surplus: Int, bytesDown: Int64, wallSeconds: Double, trainSeconds: Double, reportingLocalHours: [Int]? = nil,
        skippedByLimits: Int? = nil
    ) {
        self.skippedByLimits = skippedByLimits
        self.reportingLocalHours = reportingLocalHours
        self.round = round
        self.virtualStart = virtualStart
        self.virtualEnd = virtualEnd
        self.nextRoundStart = max(nextRoundStart ?? virtualEnd, virtualEnd)
        self.selected = selected
        self.dropped = dropped
        self.stragglers = stragglers
        self.surplus = surplus
        self.bytesDown = bytesDown
        self.wallSeconds = wallSeconds
        self.trainSeconds = trainSeconds
    }
}

/// One committed round as the server saw it.
public struct RoundSummary: Codable, Sendable, Equatable {
    public var round: Int
    public var reported: Int
    public var abandoned: Bool
    /// Tokens the aggregated devices trained on (the FedAvg weights' sum).
    public var tokens: Int
    public var bytesUp: Int64
    public var bytesDown: Int64
    public var virtualEnd: Int
    /// Server-side seconds: aggregation, server step, evaluation, commit.
    public var serverSeconds: Double
    /// Of which evaluation on the evaluation users.
    public var evaluationSeconds: Double
    /// Evaluation on the evaluation users, if this round evaluated.
    public var evaluation: NextWordMetrics?
    /// Federated evaluation (devices' own metrics), if enabled.
    public var federatedEvaluation: NextWordMetrics?
    /// SHA-256 of the global model after the round.
    public var modelSHA256: String
    /// Bytes of the model download after the round.
    public var modelBytes: Int
    /// The run's privacy guarantee after the round (runs with differential privacy).
    public var privacy: PrivacyStatus?
    /// The devices whose reports the round committed, when the run limits participation
    /// (the fleet updates its copy of the ledger with them).
    public var participants: [UInt32]?
    /// The backdoor metric, if the run has a backdoor target and this round evaluated:
    /// `predictions` trigger contexts, `accuracyAt1` is `backdoor@1`, `accuracyAt3` `backdoor@3`.
    public var backdoor: NextWordMetrics?
    /// The distribution of per-user accuracy of ``evaluation`` (issue 18).
    public var users: UserAccuracySummary?
    /// The same over the phones of ``federatedEvaluation``.
    public var federatedUsers: UserAccuracySummary?
    /// On-phone personalization at this evaluation, if the run personalizes.
    public var personalization: PersonalizationResult?
    /// What the regression guard saw at this evaluation.
    public var regression: RegressionCheck?
    /// Secure aggregation's costs in this round (runs with `--secure-aggregation`).
    public var secureAggregation: SecureAggregationReport?

    /// A summary, as the server commits a round.
    public init(
        round: Int, reported: Int, abandoned: Bool, tokens: Int, bytesUp: Int64, bytesDown: Int64, virtualEnd: Int,
        serverSeconds: Double, evaluationSeconds: Double, evaluation: NextWordMetrics? = nil,
        federatedEvaluation: NextWordMetrics? = nil, modelSHA256: String, modelBytes: Int,
        privacy: PrivacyStatus? = nil, participants: [UInt32]? = nil
    ) {
        self.privacy = privacy
        self.participants = participants
        self.round = round
        self.reported = reported
        self.abandoned = abandoned
        self.tokens = tokens
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
        self.virtualEnd = virtualEnd
        self.serverSeconds = serverSeconds
        self.evaluationSeconds = evaluationSeconds
        self.evaluation = evaluation
        self.federatedEvaluation = federatedEvaluation
        self.modelSHA256 = modelSHA256
        self.modelBytes = modelBytes
    }
}

/// A run's (ε, δ) after a round, and what it rests on.
public struct PrivacyStatus: Codable, Sendable, Equatable {
    /// ε at ``delta``.
    public var epsilon: Double
    public var delta: Double
    /// The accounting's assumption (``PrivacyConfiguration/Accounting``'s raw value).
    public var accounting: String
    /// The method: `gdp` (the composed Gaussian, exact), `rdp`, `pld` or `zcdp`.
    public var method: String
    /// The most rounds one phone has reported in so far.
    public var maximumParticipations: Int
    /// Rounds composed (the round number for sampling-based accounting).
    public var rounds: Int
    /// The noise multiplier accounted.
    public var noiseMultiplier: Double
    /// The cohort the noise was calibrated for, when simulated (K′).
    public var simulatedCohort: Int?
    /// A sentence saying what the figure assumes.
    public var assumption: String
    /// ε from Rényi DP beside the PLD figure (sampling-based accounting).
    public var epsilonRDP: Double?
    /// ρ of zCDP (tree accounting).
    public var rho: Double?
    /// Distributed DP (the Skellam mechanism): γ, the aggregate noise variance μ per coordinate
    /// (integer units), the integer sensitivities Δ₁ and Δ₂, and the RDP order that gave ε.
    public var skellamScale: Double?
    public var skellamVariance: Double?
    public var l1Sensitivity: Double?
    public var l2Sensitivity: Double?
    public var order: Double?

    public init(
        epsilon: Double, delta: Double, accounting: String, method: String, maximumParticipations: Int, rounds: Int,
        noiseMultiplier: Double, simulatedCohort: Int?, assumption: String
    ) {
        self.epsilon = epsilon
        self.delta = delta
        self.accounting = accounting
        self.method = method
        self.maximumParticipations = maximumParticipations
        self.rounds = rounds
        self.noiseMultiplier = noiseMultiplier
        self.simulatedCohort = simulatedCohort
        self.assumption = assumption
    }
}
