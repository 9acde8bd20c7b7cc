public import LanguageModelTypes

/// What `GET /v1/status` returns.
public struct ServerStatus: Codable, Sendable, Equatable {
    public struct Run: Codable, Sendable, Equatable {
        public var runID: Int64
        public var model: String
        public var corpus: String
        public var committedRounds: Int
        public var totalRounds: Int
        public var openRound: Int?
        public var reportsInOpenRound: Int
        public var virtualTime: Int
        public var lastAccuracyAt1: Double?
        /// ε after the last committed round (runs with differential privacy), and its δ.
        public var epsilon: Double?
        public var delta: Double?
        /// The per-user distribution of the last evaluation, and its personalized acc@1.
        public var users: UserAccuracySummary?
        public var personalizedAccuracyAt1: Double?
        /// Regressions flagged and rollbacks made since the run was attached.
        public var regressions: Int?
        public var rollbacks: Int?

        /// A run's line of the status.
        public init(
            runID: Int64, model: String, corpus: String, committedRounds: Int, totalRounds: Int, openRound: Int? = nil,
            reportsInOpenRound: Int, virtualTime: Int, lastAccuracyAt1: Double? = nil
        ) {
            self.runID = runID
            self.model = model
            self.corpus = corpus
            self.committedRounds = committedRounds
            self.totalRounds = totalRounds
            self.openRound = openRound
            self.reportsInOpenRound = reportsInOpenRound
            self.virtualTime = virtualTime
            self.lastAccuracyAt1 = lastAccuracyAt1
        }
    }

    public var runs: [Run]
    public var uploadsAccepted: Int

    /// The status, as the server reports it.
    public init(runs: [Run], uploadsAccepted: Int) {
        self.runs = runs
        self.uploadsAccepted = uploadsAccepted
    }
}
