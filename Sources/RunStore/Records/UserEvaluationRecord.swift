public import GRDB

/// One user's counts in one evaluation of a run (issue 18): the per-user figures behind the
/// pooled acc@1, from which `runs show`, `/metrics` and the report draw the distribution.
///
/// `user` is the corpus's user index for the server's evaluations (`split` `users`,
/// `per-user`, `personal-global`, `personalized`) and the device id for the federated one
/// (`devices`); never a name or any of the user's text.
public struct UserEvaluationRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "userEvaluation"

    public var runId: Int64
    public var round: Int
    public var split: String
    public var user: Int64
    public var predictions: Int
    public var hits1: Int
    public var hits3: Int

    public init(runId: Int64, round: Int, split: String, user: Int64, predictions: Int, hits1: Int, hits3: Int) {
        self.runId = runId
        self.round = round
        self.split = split
        self.user = user
        self.predictions = predictions
        self.hits1 = hits1
        self.hits3 = hits3
    }
}

/// An evaluated round the regression guard flagged (issue 18): its acc@1 fell more than the
/// run's threshold below the best evaluated round's; `rolledBackTo` is set when the run went on
/// from that round's checkpoint.
public struct RegressionRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "regression"

    public var runId: Int64
    public var round: Int
    public var acc1: Double
    public var bestRound: Int
    public var bestAcc1: Double
    public var rolledBackTo: Int?

    public init(runId: Int64, round: Int, acc1: Double, bestRound: Int, bestAcc1: Double, rolledBackTo: Int?) {
        self.runId = runId
        self.round = round
        self.acc1 = acc1
        self.bestRound = bestRound
        self.bestAcc1 = bestAcc1
        self.rolledBackTo = rolledBackTo
    }
}
