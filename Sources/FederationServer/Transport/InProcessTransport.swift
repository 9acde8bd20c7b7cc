public import FederationProtocol
import RunStore

/// The default transport: direct calls into an ``AggregationServer`` in this process.
public struct InProcessTransport: ServerTransport {
    public let server: AggregationServer
    public var name: String { "in-process" }

    public init(server: AggregationServer) { self.server = server }

    public func createRun(_ configuration: RunConfiguration) async throws -> RunAttachment {
        try server.createRun(configuration)
    }
    public func resumeRun(id: Int64) async throws -> RunAttachment { try server.resumeRun(id: id) }
    public func openRound(run: Int64, _ opening: RoundOpening) async throws { try server.openRound(run: run, opening) }
    public func checkIn(run: Int64, round: Int, device: Int) async throws -> TrainingPlan {
        try server.checkIn(run: run, round: round, device: device)
    }
    public func model(run: Int64, round: Int) async throws -> [UInt8] { try server.model(run: run, round: round) }
    public func upload(run: Int64, round: Int, device: Int, bytes: [UInt8], extras: UploadExtras) async throws
        -> UploadReceipt
    {
        try server.upload(run: run, round: round, device: device, bytes: bytes, extras: extras)
    }
    public func closeRound(run: Int64, _ closing: RoundClosing) async throws -> RoundSummary {
        try server.closeRound(run: run, closing)
    }
    public func finishRun(_ run: Int64, finished: Bool) async throws {
        try server.finishRun(run, status: finished ? .finished : .interrupted)
    }
    public func publishShards(run: Int64, _ publication: ShardPublication) async throws {
        try server.publishShards(run: run, publication)
    }
    public func shardProgress(run: Int64, round: Int) async throws -> ShardProgress {
        try server.shardProgress(run: run, round: round)
    }
}
