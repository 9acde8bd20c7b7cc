public import LanguageModelTypes

/// On-phone personalization as the server evaluates it (Wang et al. 2019): at every
/// evaluation, each evaluation user's phone adapts the current global model to the user's own
/// earlier text and is scored on their later text.
///
/// For the neural model the phone fine-tunes with SGD (``epochs``, ``learningRate``,
/// ``batchSize``). For the n-gram model it builds the keyboard's classic user model: a
/// Kneser-Ney model of the user's own text, interpolated with the global one as
/// `λ·P_user + (1 − λ)·P_global`; ``lambda`` nil picks λ on held-out training text.
public struct PersonalizationConfiguration: Codable, Sendable, Equatable {
    public var epochs: Int = 1
    public var learningRate: Float = 0.1
    public var batchSize: Int = 8
    /// The user model's weight (n-gram), in 0…1; nil: chosen on held-out training text.
    public var lambda: Double?

    public static let epochsRange = 1...100
    public static let batchSizeRange = 1...4096
    /// The λ grid searched when ``lambda`` is nil.
    public static let lambdaGrid: [Double] = (0...10).map { Double($0) / 10 }

    public init(epochs: Int = 1, learningRate: Float = 0.1, batchSize: Int = 8, lambda: Double? = nil) {
        self.epochs = epochs
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.lambda = lambda
    }

    /// Checks every field, naming the flag that sets it.
    public func validate() throws(FederationError) {
        guard Self.epochsRange.contains(epochs) else {
            throw FederationError(.invalidConfiguration, "--personalize-epochs must be in 1…100 (got \(epochs))")
        }
        guard learningRate.isFinite, learningRate > 0, learningRate <= 100 else {
            throw FederationError(
                .invalidConfiguration,
                "--personalize-lr must be a positive number up to 100 (got \(learningRate)); fine-tuning with a rate ≤ 0 does not learn"
            )
        }
        guard Self.batchSizeRange.contains(batchSize) else {
            throw FederationError(.invalidConfiguration, "--personalize-batch must be in 1…4096 (got \(batchSize))")
        }
        if let lambda, !(lambda >= 0 && lambda <= 1) {
            throw FederationError(
                .invalidConfiguration,
                "--user-lambda must be in [0, 1] or 'auto' (got \(lambda)); it is the user model's weight in the interpolation"
            )
        }
    }

    /// The options one phone fine-tunes with.
    public func trainingOptions(seed: UInt64, clipNorm: Float, maxMessageLength: Int) -> TrainingOptions {
        TrainingOptions(
            batchSize: batchSize, learningRate: learningRate, optimizer: .sgd(clipNorm: clipNorm), seed: seed,
            threads: 1, maxMessageLength: maxMessageLength)
    }
}

/// The guard that watches every evaluated round for a regression: a round whose acc@1 falls
/// more than ``threshold`` below the best so far is flagged, and with ``rollback`` the server
/// restores the best round's checkpoint (model and server-optimizer state) and goes on from it.
public struct RegressionGuard: Codable, Sendable, Equatable {
    /// The largest acc@1 drop below the best evaluated round that is not a regression
    /// (absolute, e.g. 0.01 = one point).
    public var threshold: Double
    public var rollback: Bool

    public static let defaultThreshold = 0.01

    public init(threshold: Double = RegressionGuard.defaultThreshold, rollback: Bool = false) {
        self.threshold = threshold
        self.rollback = rollback
    }

    public func validate() throws(FederationError) {
        guard threshold.isFinite, threshold >= 0, threshold < 1 else {
            throw FederationError(
                .invalidConfiguration,
                "--regression-threshold must be at least 0 and below 1 (got \(threshold)); it is an acc@1 drop, e.g. 0.01 for one point"
            )
        }
    }
}

/// What the guard saw at one evaluated round.
public struct RegressionCheck: Codable, Sendable, Equatable {
    public var round: Int
    public var accuracyAt1: Double
    /// The best evaluated round before this one, and its acc@1.
    public var bestRound: Int
    public var bestAccuracyAt1: Double
    /// `bestAccuracyAt1 − accuracyAt1`.
    public var drop: Double
    public var regressed: Bool
    /// The round whose checkpoint the run continues from, if it rolled back.
    public var rolledBackTo: Int?

    public init(
        round: Int, accuracyAt1: Double, bestRound: Int, bestAccuracyAt1: Double, regressed: Bool,
        rolledBackTo: Int?
    ) {
        self.round = round
        self.accuracyAt1 = accuracyAt1
        self.bestRound = bestRound
        self.bestAccuracyAt1 = bestAccuracyAt1
        drop = bestAccuracyAt1 - accuracyAt1
        self.regressed = regressed
        self.rolledBackTo = rolledBackTo
    }
}

/// The personalized figures of one evaluation: the global model and the personalized models
/// on the same later text of the same users, pooled and per user.
public struct PersonalizationResult: Codable, Sendable, Equatable {
    public var global: NextWordMetrics
    public var personalized: NextWordMetrics
    public var globalUsers: [UserScore]
    public var personalizedUsers: [UserScore]
    /// The n-gram user model's weight used (nil for the neural model).
    public var lambda: Double?

    public init(
        global: NextWordMetrics, personalized: NextWordMetrics, globalUsers: [UserScore],
        personalizedUsers: [UserScore], lambda: Double?
    ) {
        self.global = global
        self.personalized = personalized
        self.globalUsers = globalUsers
        self.personalizedUsers = personalizedUsers
        self.lambda = lambda
    }

    /// Per user (ascending by user): personalized acc@1 − global acc@1.
    public var gains: [Double] {
        let g = Dictionary(globalUsers.map { ($0.user, $0) }, uniquingKeysWith: { a, _ in a })
        return personalizedUsers.compactMap { p in g[p.user].map { p.accuracyAt1 - $0.accuracyAt1 } }
    }

    /// Shares of users whose acc@1 personalization raised and lowered.
    public var helpedShare: Double { share { $0 > 0 } }
    public var hurtShare: Double { share { $0 < 0 } }

    private func share(_ p: (Double) -> Bool) -> Double {
        let g = gains
        return g.isEmpty ? 0 : Double(g.filter(p).count) / Double(g.count)
    }

    /// The figures under the keys tables and `--json` use.
    public var dictionary: [String: Double] {
        let g = gains.sorted()
        var d: [String: Double] = [
            "global acc@1": global.accuracyAt1, "personalized acc@1": personalized.accuracyAt1,
            "global acc@3": global.accuracyAt3, "personalized acc@3": personalized.accuracyAt3,
            "users helped": helpedShare, "users hurt": hurtShare,
        ]
        if !g.isEmpty {
            d["user gain mean"] = g.reduce(0, +) / Double(g.count)
            d["user gain p10"] = UserAccuracySummary.quantile(g, 0.1)
            d["user gain median"] = UserAccuracySummary.quantile(g, 0.5)
            d["user gain p90"] = UserAccuracySummary.quantile(g, 0.9)
        }
        if let lambda { d["lambda"] = lambda }
        return d
    }
}

/// Where a branched run comes from: `kbd-sim runs branch RUN --from-round R` starts a new run
/// from run `run`'s committed round `round` (its rounds 1…R copied, its checkpoint of R).
public struct RunLineage: Codable, Sendable, Equatable {
    public var run: Int64
    public var round: Int

    public init(run: Int64, round: Int) {
        self.run = run
        self.round = round
    }
}
