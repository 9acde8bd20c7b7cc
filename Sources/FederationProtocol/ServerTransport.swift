public import SecureAggregation

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

    // Secure aggregation's stages (in process and over HTTP; the defaults below refuse).
    func secureAggregationOpen(run: Int64, round: Int, devices: [UInt32]) async throws -> SecureAggregationSetup
    func secureAggregationAdvertiseKeys(run: Int64, round: Int, _ messages: [AdvertiseKeysMessage]) async throws
        -> SecureAggregationReply<[NeighbourKeysMessage]>
    func secureAggregationShareKeys(run: Int64, round: Int, _ messages: [ShareKeysMessage]) async throws
        -> SecureAggregationReply<[ForwardedSharesMessage]>
    func secureAggregationMaskedInputs(
        run: Int64, round: Int, _ messages: [MaskedInputMessage], tokens: [Int], closesStage: Bool
    ) async throws -> SecureAggregationReply<[UnmaskRequestMessage]>
    func secureAggregationUnmask(run: Int64, round: Int, _ messages: [UnmaskMessage]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
    func secureAggregationPlainInputs(run: Int64, round: Int, _ inputs: [PlainQuantizedInput]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
}

/// Secure aggregation's four stages (docs/secure-aggregation.md), one call per stage: each
/// call carries the messages of every phone still in the round for that stage and closes it,
/// returning the server's answers for the phones (or the round's abandonment). The
/// masked-input stage may be sent in batches (`closesStage` on the last), so that at most a
/// batch of masked vectors exists at once.
///
/// `InProcessTransport` and `HTTPTransport` implement them (over HTTP each phone's message is
/// its own request, with its own credential); a transport without them refuses with the
/// default implementations below.
extension ServerTransport {
    /// Starts secure aggregation for `round` over `devices` (the phones that trained), in
    /// phone-index order.
    public func secureAggregationOpen(run: Int64, round: Int, devices: [UInt32]) async throws
        -> SecureAggregationSetup
    {
        throw FederationError.secureAggregationInProcessOnly(transport: name)
    }
    /// Stage 0: the phones' public keys; answers each phone with its neighbours' keys.
    public func secureAggregationAdvertiseKeys(run: Int64, round: Int, _ messages: [AdvertiseKeysMessage])
        async throws -> SecureAggregationReply<[NeighbourKeysMessage]>
    {
        throw FederationError.secureAggregationInProcessOnly(transport: name)
    }
    /// Stage 1: the phones' sealed shares; answers each phone with the envelopes sealed for it.
    public func secureAggregationShareKeys(run: Int64, round: Int, _ messages: [ShareKeysMessage]) async throws
        -> SecureAggregationReply<[ForwardedSharesMessage]>
    {
        throw FederationError.secureAggregationInProcessOnly(transport: name)
    }
    /// Stage 2: masked inputs (with each phone's token count, public), added to the running
    /// sum; with `closesStage`, answers each contributor with its unmask request.
    public func secureAggregationMaskedInputs(
        run: Int64, round: Int, _ messages: [MaskedInputMessage], tokens: [Int], closesStage: Bool
    ) async throws -> SecureAggregationReply<[UnmaskRequestMessage]> {
        throw FederationError.secureAggregationInProcessOnly(transport: name)
    }
    /// Stage 3: the revealed shares; the server unmasks the sum and hands it to the model.
    public func secureAggregationUnmask(run: Int64, round: Int, _ messages: [UnmaskMessage]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
    {
        throw FederationError.secureAggregationInProcessOnly(transport: name)
    }
    /// The plain comparison (``SecureAggregationSettings/Summation/plain``): the same codes,
    /// summed in the clear.
    public func secureAggregationPlainInputs(run: Int64, round: Int, _ inputs: [PlainQuantizedInput]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
    {
        throw FederationError.secureAggregationInProcessOnly(transport: name)
    }
}

extension FederationError {
    /// The refusal of a transport that does not carry secure aggregation's stages.
    public static func secureAggregationInProcessOnly(transport: String) -> FederationError {
        FederationError(
            .invalidConfiguration,
            "the \(transport) transport has no secure-aggregation stages; run in process or over HTTP (kbd-sim server), or drop --secure-aggregation"
        )
    }
}

/// Scale-out's calls (docs/scale-out.md): `InProcessTransport` and `HTTPTransport` implement
/// them; a transport without them refuses training on workers.
extension ServerTransport {
    public func publishShards(run: Int64, _ publication: ShardPublication) async throws {
        throw FederationError(
            .invalidConfiguration, "the \(name) transport cannot publish shards for workers; use kbd-sim server")
    }

    public func shardProgress(run: Int64, round: Int) async throws -> ShardProgress {
        throw FederationError(
            .invalidConfiguration, "the \(name) transport cannot publish shards for workers; use kbd-sim server")
    }
}
