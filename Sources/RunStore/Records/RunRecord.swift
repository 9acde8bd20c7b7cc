public import GRDB

/// One federated run: its full configuration and where it stands.
public struct RunRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "run"

    /// Where a run stands.
    public enum Status: String, Codable, Sendable, DatabaseValueConvertible {
        case running, finished, interrupted, failed
    }

    /// Assigned by the store.
    public var id: Int64?
    /// ISO 8601, UTC.
    public var createdAt: String
    public var status: Status
    /// The corpus argument, e.g. a path or `synthetic`.
    public var corpus: String
    /// The model name or config.
    public var model: String
    /// The codec scheme string.
    public var codec: String
    public var seed: Int64
    /// The whole configuration as JSON, enough to resume or reproduce the run.
    public var config: String

    public init(
        id: Int64? = nil, createdAt: String, status: Status = .running, corpus: String, model: String, codec: String,
        seed: Int64, config: String
    ) {
        self.id = id
        self.createdAt = createdAt
        self.status = status
        self.corpus = corpus
        self.model = model
        self.codec = codec
        self.seed = seed
        self.config = config
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
