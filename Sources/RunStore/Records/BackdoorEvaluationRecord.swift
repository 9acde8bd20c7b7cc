public import GRDB

/// One evaluation of a run's backdoor (issue 17): over the trigger contexts built from the
/// evaluation users' text, the share whose target word the model suggests first
/// (`backdoor@1`) or among its three suggestions (`backdoor@3`).
public struct BackdoorEvaluationRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "backdoorEvaluation"

    public var runId: Int64
    public var round: Int
    /// Trigger contexts scored.
    public var contexts: Int
    /// `backdoor@1` and `backdoor@3`.
    public var at1: Double
    public var at3: Double

    public init(runId: Int64, round: Int, contexts: Int, at1: Double, at3: Double) {
        self.runId = runId
        self.round = round
        self.contexts = contexts
        self.at1 = at1
        self.at3 = at3
    }
}
