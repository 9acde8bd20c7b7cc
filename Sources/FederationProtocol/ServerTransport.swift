/// How the fleet talks to the aggregation server. Both transports (`InProcessTransport` in
/// `FederationServer`, `HTTPTransport` in `FederationHTTP`) carry the same values and the same model
/// and update bytes; only the medium differs.
public protocol ServerTransport: Sendable {
    /// A short name for tables (`in-process`, `http://127.0.0.1:8080`).
    var name: String { get }
    func createRun(_ configuration: RunConfiguration) async throws -> RunAttachment
    func resumeRun(id: Int64) async throws -> RunAttachment
    func openRound(run: Int64, _ opening: RoundOpening) async throws
    func checkIn(run: Int64, round: Int, device: Int) async throws -> TrainingPlan
    func model(run: Int64, round: Int) async throws -> [UInt8]
    func upload(run: Int64, round: Int, device: Int, bytes: [UInt8], extras: UploadExtras) async throws -> UploadReceipt
    func closeRound(run: Int64, _ closing: RoundClosing) async throws -> RoundSummary
    /// Marks the run finished (`finished: true`) or interrupted.
    func finishRun(_ run: Int64, finished: Bool) async throws
    /// Publishes the open round's training as shards for workers (docs/scale-out.md).
    func publishShards(run: Int64, _ publication: ShardPublication) async throws
    /// How far the workers are with a round's shards.
    func shardProgress(run: Int64, round: Int) async throws -> ShardProgress
}
