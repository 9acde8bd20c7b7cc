public import GRDB

/// What one aggregation stage recorded about one round (update norms, clipped or discarded
/// updates, noise): counts and statistics as JSON, never an update or user text.
public struct StageReportRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "stageReport"

    public var runId: Int64
    public var round: Int
    /// The stage's name in the run's chain.
    public var stage: String
    /// The stage's figures, a JSON value.
    public var json: String

    public init(runId: Int64, round: Int, stage: String, json: String) {
        self.runId = runId
        self.round = round
        self.stage = stage
        self.json = json
    }
}
