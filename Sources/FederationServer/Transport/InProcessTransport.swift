public import FederationProtocol
import RunStore
public import SecureAggregation

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

    public func secureAggregationOpen(run: Int64, round: Int, devices: [UInt32]) async throws
        -> SecureAggregationSetup
    {
        try server.secureAggregationOpen(run: run, round: round, devices: devices)
    }
    public func secureAggregationAdvertiseKeys(run: Int64, round: Int, _ messages: [AdvertiseKeysMessage])
        async throws -> SecureAggregationReply<[NeighbourKeysMessage]>
    {
        try server.secureAggregationAdvertiseKeys(run: run, round: round, messages)
    }
    public func secureAggregationShareKeys(run: Int64, round: Int, _ messages: [ShareKeysMessage]) async throws
        -> SecureAggregationReply<[ForwardedSharesMessage]>
    {
        try server.secureAggregationShareKeys(run: run, round: round, messages)
    }
    public func secureAggregationMaskedInputs(
        run: Int64, round: Int, _ messages: [MaskedInputMessage], tokens: [Int], closesStage: Bool
    ) async throws -> SecureAggregationReply<[UnmaskRequestMessage]> {
        try server.secureAggregationMaskedInputs(
            run: run, round: round, messages, tokens: tokens, closesStage: closesStage)
    }
    public func secureAggregationUnmask(run: Int64, round: Int, _ messages: [UnmaskMessage]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
    {
        try server.secureAggregationUnmask(run: run, round: round, messages)
    }
    public func secureAggregationPlainInputs(run: Int64, round: Int, _ inputs: [PlainQuantizedInput]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
    {
        try server.secureAggregationPlainInputs(run: run, round: round, inputs)
    }
}
