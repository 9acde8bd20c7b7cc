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
