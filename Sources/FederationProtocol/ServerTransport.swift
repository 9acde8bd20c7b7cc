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
}
