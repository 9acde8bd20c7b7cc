public import Foundation
public import GRDB

/// What one round did: its virtual time span, cohort outcome and traffic.
public struct RoundRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "round"

    public var runId: Int64
    /// 1-based round number.
    public var number: Int
    /// Virtual seconds since the run's start.
    public var virtualStart: Double
    public var virtualEnd: Double
    /// Devices selected (with over-selection).
    public var selected: Int
    /// Devices whose update was aggregated.
    public var reported: Int
    /// Devices that stopped being eligible before reporting.
    public var dropped: Int
    /// Devices that reported after the deadline.
    public var stragglers: Int
    /// The round fell below the minimum report fraction and changed nothing.
    public var abandoned: Bool
    /// Model bytes sent to devices.
    public var bytesDown: Int64
    /// Update bytes received from devices (on the wire, after the codec).
    public var bytesUp: Int64
    /// Real seconds the simulator spent on the round.
    public var wallSeconds: Double
    /// Devices that finished after the cohort was full (over-selection surplus, discarded).
    public var surplus: Int = 0
    /// Tokens the aggregated devices trained on (FedAvg's total weight).
    public var tokens: Int64 = 0
    /// Of ``wallSeconds``, the devices' local training.
    public var trainSeconds: Double = 0
    /// Server seconds: aggregation, server step, evaluation, checkpoint.
    public var serverSeconds: Double = 0
    /// SHA-256 of the global model after the round.
    public var modelSHA256: String = ""
    /// Reporting devices by their local hour of day (index 0…23) when they reported: 24
    /// counts summing to ``reported``. Nil for rounds committed before the store recorded it
    /// (schema v3) or by a fleet that did not send it. Stored as a JSON array in a TEXT column.
    public var reportingLocalHours: [Int]? = nil

    public init(
        runId: Int64, number: Int, virtualStart: Double, virtualEnd: Double, selected: Int, reported: Int,
        dropped: Int, stragglers: Int, abandoned: Bool, bytesDown: Int64, bytesUp: Int64, wallSeconds: Double,
        surplus: Int = 0, tokens: Int64 = 0, trainSeconds: Double = 0, serverSeconds: Double = 0,
        modelSHA256: String = "",
        reportingLocalHours: [Int]? = nil
    ) {
        self.reportingLocalHours = reportingLocalHours
        self.surplus = surplus
        self.tokens = tokens
        self.trainSeconds = trainSeconds
        self.serverSeconds = serverSeconds
        self.modelSHA256 = modelSHA256
        self.runId = runId
        self.number = number
        self.virtualStart = virtualStart
        self.virtualEnd = virtualEnd
        self.selected = selected
        self.reported = reported
        self.dropped = dropped
        self.stragglers = stragglers
        self.abandoned = abandoned
        self.bytesDown = bytesDown
        self.bytesUp = bytesUp
        self.wallSeconds = wallSeconds
    }
}

/// nwp-v1 figures of the global model after a round.
public struct EvaluationRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "evaluation"

    /// Who computed the figures: the server on held-out users, or devices on their own text.
    public enum Source: String, Codable, Sendable, DatabaseValueConvertible { case server, federated }

    /// The server's evaluation of the global model on the run's evaluation split (`users` or
    /// `per-user`): the figure every table and chart leads with. The personalization rows
    /// (`personal-global`, `personalized`) and the federated one (`devices`) are not.
    public var isHeadline: Bool { source == .server && (split == "users" || split == "per-user") }

    public var runId: Int64
    public var round: Int
    /// `users` or `per-user`.
    public var split: String
    public var source: Source
    /// The metric version, `nwp-v1`.
    public var metric: String
    public var predictions: Int
    public var acc1: Double
    public var acc3: Double
    public var acc1iv: Double
    public var ppl: Double?

    public init(
        runId: Int64, round: Int, split: String, source: Source = .server, metric: String = "nwp-v1",
        predictions: Int, acc1: Double, acc3: Double, acc1iv: Double, ppl: Double?
    ) {
        self.runId = runId
        self.round = round
        self.split = split
        self.source = source
        self.metric = metric
        self.predictions = predictions
        self.acc1 = acc1
        self.acc3 = acc3
        self.acc1iv = acc1iv
        self.ppl = ppl
    }
}

/// The global model after a round: its bytes (or a file) and their SHA-256.
public struct CheckpointRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "checkpoint"

    public var runId: Int64
    public var round: Int
    /// The model file format, e.g. `kbdlm-v1` or `arpa`.
    public var format: String
    public var sha256: String
    public var byteCount: Int64
    /// The model file's bytes, when stored inline.
    public var data: Data?
    /// A file path, when stored outside the database.
    public var path: String?

    public init(runId: Int64, round: Int, format: String, sha256: String, byteCount: Int64, data: Data?, path: String?)
    {
        self.runId = runId
        self.round = round
        self.format = format
        self.sha256 = sha256
        self.byteCount = byteCount
        self.data = data
        self.path = path
    }
}
