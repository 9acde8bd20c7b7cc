public import FederationProtocol
public import Foundation
public import SecureAggregation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The fleet's side of the HTTP transport: the same calls as ``InProcessTransport``, sent to
/// `kbd-sim server` (see docs/server.md for the routes).
///
/// Models and updates travel as raw bytes (`application/octet-stream`); everything else as
/// JSON. A refusal comes back as its HTTP status with an ``HTTPRejection`` JSON body and is
/// rethrown as that ``HTTPRejection`` (its status, reason and message).
///
/// Credentials: the transport holds the server's operator token (the fleet driver's secret),
/// keeps the run credential each create or resume returns, and the device credentials each
/// round opening returns, and sends each request with the narrowest one that the route takes
/// (docs/server.md, "Credentials"). It never logs or prints them.
public struct HTTPTransport: ServerTransport {
    public let baseURL: URL
    private let session: URLSession
    private let wallet: CredentialWallet
    public var name: String { baseURL.absoluteString }

    /// The header carrying an upload's ``UploadExtras`` as JSON.
    public static let extrasHeader = "X-KbdSim-Extras"
    /// The header carrying the run credential in the reply to a create or a resume.
    public static let runCredentialHeader = "X-KbdSim-Run-Credential"

    /// Creates a transport for a server at `baseURL` (e.g. `http://127.0.0.1:8080`) started
    /// with `token` (the contents of `kbd-sim server --token-file`).
    ///
    /// - Throws: ``FederationError/Code/invalidConfiguration`` if it is not an http(s) URL.
    public init(baseURL text: String, token: String, timeout: TimeInterval = 600) throws {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil
        else {
            throw FederationError(
                .invalidConfiguration, "--server \(text) is not an http:// URL (e.g. http://127.0.0.1:8080)")
        }
        baseURL = url
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        session = URLSession(configuration: configuration)
        wallet = CredentialWallet(operatorToken: token.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func createRun(_ configuration: RunConfiguration) async throws -> RunAttachment {
        let (data, response) = try await exchange(
            "POST", "v1/runs", body: try Self.encode(configuration), contentType: "application/json",
            credential: wallet.operatorToken)
        let attachment = try Self.decode(RunAttachment.self, data)
        try keepRunCredential(of: response, run: attachment.runID)
        return attachment
    }

    public func resumeRun(id: Int64) async throws -> RunAttachment {
        let (data, response) = try await exchange(
            "POST", "v1/runs/\(id)/resume", body: try Self.encode(Empty()), contentType: "application/json",
            credential: wallet.operatorToken)
        let attachment = try Self.decode(RunAttachment.self, data)
        try keepRunCredential(of: response, run: id)
        return attachment
    }

    public func openRound(run: Int64, _ opening: RoundOpening) async throws {
        let data = try await send(
            "POST", "v1/runs/\(run)/rounds", body: try Self.encode(opening), contentType: "application/json",
            credential: wallet.run(run))
        let issued = try Self.decode(RoundCredentials.self, data)
        wallet.keep(issued.credentials, run: run, round: opening.round)
    }

    public func checkIn(run: Int64, round: Int, device: Int) async throws -> TrainingPlan {
        let data = try await send(
            "POST", "v1/runs/\(run)/rounds/\(round)/checkin", body: try Self.encode(CheckInRequest(device: device)),
            contentType: "application/json", credential: wallet.device(device, run: run, round: round))
        return try Self.decode(TrainingPlan.self, data)
    }

    public func model(run: Int64, round: Int) async throws -> [UInt8] {
        // The fleet driver downloads the round's model once for its phones, with its run credential.
        [UInt8](
            try await send(
                "GET", "v1/runs/\(run)/rounds/\(round)/model", body: nil, contentType: nil, credential: wallet.run(run))
        )
    }

    public func upload(run: Int64, round: Int, device: Int, bytes: [UInt8], extras: UploadExtras) async throws
        -> UploadReceipt
    {
        let data = try await send(
            "PUT", "v1/runs/\(run)/rounds/\(round)/updates/\(device)", body: Data(bytes),
            contentType: "application/octet-stream", credential: wallet.device(device, run: run, round: round),
            headers: [Self.extrasHeader: String(decoding: try Self.encode(extras), as: UTF8.self)])
        return try Self.decode(UploadReceipt.self, data)
    }

    public func closeRound(run: Int64, _ closing: RoundClosing) async throws -> RoundSummary {
        let data = try await send(
            "POST", "v1/runs/\(run)/rounds/\(closing.round)/close", body: try Self.encode(closing),
            contentType: "application/json", credential: wallet.run(run))
        wallet.forget(run: run, round: closing.round)
        return try Self.decode(RoundSummary.self, data)
    }

    public func finishRun(_ run: Int64, finished: Bool) async throws {
        _ = try await send(
            "POST", "v1/runs/\(run)/finish", body: try Self.encode(FinishRequest(finished: finished)),
            contentType: "application/json", credential: wallet.run(run))
        wallet.forget(run: run)
    }

    public func publishShards(run: Int64, _ publication: ShardPublication) async throws {
        _ = try await send(
            "POST", "v1/runs/\(run)/rounds/\(publication.round)/shards", body: try Self.encode(publication),
            contentType: "application/json", credential: wallet.run(run))
    }

    public func shardProgress(run: Int64, round: Int) async throws -> ShardProgress {
        try Self.decode(
            ShardProgress.self,
            try await send(
                "GET", "v1/runs/\(run)/rounds/\(round)/shards", body: nil, contentType: nil, credential: wallet.run(run)
            ))
    }

    // MARK: - Secure aggregation (docs/server.md, "Secure aggregation")

    public func secureAggregationOpen(run: Int64, round: Int, devices: [UInt32]) async throws
        -> SecureAggregationSetup
    {
        let data = try await send(
            "POST", "v1/runs/\(run)/rounds/\(round)/secagg",
            body: try Self.encode(SecureAggregationOpening(devices: devices)), contentType: "application/json",
            credential: wallet.run(run))
        let setup = try Self.decode(SecureAggregationSetup.self, data)
        wallet.keep(cohort: setup.devices, run: run, round: round)
        return setup
    }

    public func secureAggregationAdvertiseKeys(run: Int64, round: Int, _ messages: [AdvertiseKeysMessage])
        async throws -> SecureAggregationReply<[NeighbourKeysMessage]>
    {
        try await stage(
            messages.map { .advertiseKeys($0) }, closing: .advertiseKeys, run: run, round: round,
            decode: SecureAggregationWire.decodeNeighbourKeys)
    }

    public func secureAggregationShareKeys(run: Int64, round: Int, _ messages: [ShareKeysMessage]) async throws
        -> SecureAggregationReply<[ForwardedSharesMessage]>
    {
        try await stage(
            messages.map { .shareKeys($0) }, closing: .shareKeys, run: run, round: round,
            decode: SecureAggregationWire.decodeForwardedShares)
    }

    public func secureAggregationMaskedInputs(
        run: Int64, round: Int, _ messages: [MaskedInputMessage], tokens: [Int], closesStage: Bool
    ) async throws -> SecureAggregationReply<[UnmaskRequestMessage]> {
        guard tokens.count == messages.count else {
            throw FederationError(
                .protocolViolation, "\(messages.count) masked inputs came with \(tokens.count) token counts")
        }
        let inbound = zip(messages, tokens).map { SecureAggregationInbound.maskedInput($0, tokens: $1) }
        guard closesStage else {
            return SecureAggregationReply(answer: nil, refused: try await sendEach(inbound, run: run, round: round))
        }
        return try await stage(
            inbound, closing: .maskedInput, run: run, round: round, decode: SecureAggregationWire.decodeUnmaskRequests)
    }

    public func secureAggregationUnmask(run: Int64, round: Int, _ messages: [UnmaskMessage]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
    {
        try await stage(
            messages.map { .unmask($0) }, closing: .unmask, run: run, round: round,
            decode: SecureAggregationWire.decodeOutcome)
    }

    public func secureAggregationPlainInputs(run: Int64, round: Int, _ inputs: [PlainQuantizedInput]) async throws
        -> SecureAggregationReply<SecureAggregationOutcome>
    {
        try await stage(
            inputs.map { .plainInput($0) }, closing: .plainInput, run: run, round: round,
            decode: SecureAggregationWire.decodeOutcome)
    }

    /// Sends the phones' messages, then closes the stage; the reply counts the refusals of both.
    private func stage<Answer>(
        _ messages: [SecureAggregationInbound], closing route: SecureAggregationRoute, run: Int64, round: Int,
        decode: ([UInt8]) throws(SecureAggregationWire.DecodingFailure) -> SecureAggregationReply<Answer>
    ) async throws -> SecureAggregationReply<Answer> {
        let refused = try await sendEach(messages, run: run, round: round)
        let bytes = try await close(route, run: run, round: round)
        var reply: SecureAggregationReply<Answer>
        do {
            reply = try decode(bytes)
        } catch {
            throw FederationError(.protocolViolation, "the server's \(route.rawValue) reply: \(error)", cause: error)
        }
        reply.refused += refused
        return reply
    }

    /// Sends one phone's stage message with that device's credential: nil when the server
    /// took it, the refusal when it did not (the phone then leaves the round).
    ///
    /// - Throws: a transport failure (the server could not be reached), which ends the run.
    public func secureAggregationSend(_ message: SecureAggregationInbound, run: Int64, round: Int) async throws
        -> HTTPRejection?
    {
        guard let cohort = wallet.cohort(run: run, round: round) else {
            throw FederationError(
                .protocolViolation,
                "secure aggregation of run \(run) round \(round) was not opened through this transport; call secureAggregationOpen first"
            )
        }
        guard cohort.indices.contains(message.phone) else {
            throw FederationError(
                .protocolViolation, "phone \(message.phone) is not in the round's cohort of \(cohort.count)")
        }
        let device = Int(cohort[message.phone])
        do {
            _ = try await send(
                "PUT", "v1/runs/\(run)/rounds/\(round)/secagg/\(message.route.rawValue)/\(device)",
                body: Data(SecureAggregationWire.encode(message)), contentType: SecureAggregationWire.contentType,
                credential: wallet.device(device, run: run, round: round))
            return nil
        } catch let rejection as HTTPRejection where (400..<500).contains(rejection.status) {
            return rejection
        }
    }

    /// Phones' messages sent side by side (``stageConcurrency`` at a time); returns how many
    /// the server refused.
    private func sendEach(_ messages: [SecureAggregationInbound], run: Int64, round: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var refused = 0
            var next = 0
            func add() {
                let message = messages[next]
                next += 1
                group.addTask { try await secureAggregationSend(message, run: run, round: round) != nil }
            }
            while next < min(Self.stageConcurrency, messages.count) { add() }
            while let wasRefused = try await group.next() {
                if wasRefused { refused += 1 }
                if next < messages.count { add() }
            }
            return refused
        }
    }

    /// Closes `stage` with the run credential; the body is the server's ``SecureAggregationWire`` reply.
    private func close(_ stage: SecureAggregationRoute, run: Int64, round: Int) async throws -> [UInt8] {
        [UInt8](
            try await send(
                "POST", "v1/runs/\(run)/rounds/\(round)/secagg/\(stage.rawValue)/close", body: Data("{}".utf8),
                contentType: "application/json", credential: wallet.run(run)))
    }

    /// Stage messages in flight at once.
    static let stageConcurrency = 16

    // MARK: - A worker's calls (docs/scale-out.md)

    /// Leases the next waiting shard as `worker`; nil when no shard waits.
    public func leaseShard(worker: String) async throws -> ShardLease? {
        let (data, response) = try await exchange(
            "POST", "v1/work/lease", body: try Self.encode(LeaseRequest(worker: worker)),
            contentType: "application/json", credential: wallet.operatorToken)
        if response.statusCode == 204 { return nil }
        return try Self.decode(ShardLease.self, data)
    }

    /// The model of `lease`'s round.
    public func model(of lease: ShardLease) async throws -> [UInt8] {
        [UInt8](
            try await send(
                "GET", "v1/work/leases/\(lease.lease)/model", body: nil, contentType: nil, credential: lease.credential)
        )
    }

    /// Uploads `lease`'s partial aggregate (`KBDP` bytes).
    public func submitPartial(_ bytes: [UInt8], for lease: ShardLease) async throws -> PartialReceipt {
        try Self.decode(
            PartialReceipt.self,
            try await send(
                "PUT", "v1/work/leases/\(lease.lease)/partial", body: Data(bytes),
                contentType: "application/octet-stream", credential: lease.credential))
    }

    /// Gives `lease` back unfinished (the worker is stopping): its shard goes to another worker.
    public func returnLease(_ lease: ShardLease) async throws {
        _ = try await send(
            "POST", "v1/work/leases/\(lease.lease)/return", body: Data("{}".utf8), contentType: "application/json",
            credential: lease.credential)
    }

    /// `GET /v1/status` (with the operator token).
    public func status() async throws -> ServerStatus {
        try Self.decode(
            ServerStatus.self,
            try await send("GET", "v1/status", body: nil, contentType: nil, credential: wallet.operatorToken))
    }

    /// The credential a device of an open round holds (for tests and for drivers that hand
    /// credentials to phones of their own); nil if none was issued.
    public func deviceCredential(run: Int64, round: Int, device: Int) -> String? {
        wallet.deviceIfAny(device, run: run, round: round)
    }

    /// The run credential of `run`'s attachment through this transport, if any.
    public func runCredential(run: Int64) -> String? { wallet.runIfAny(run) }

    private func keepRunCredential(of response: HTTPURLResponse, run: Int64) throws {
        guard let credential = response.value(forHTTPHeaderField: Self.runCredentialHeader), !credential.isEmpty else {
            throw FederationError(
                .protocolViolation,
                "the server attached run \(run) without a run credential (\(Self.runCredentialHeader)); is it a kbd-sim server of this version?"
            )
        }
        wallet.keep(runCredential: credential, run: run)
    }

    // MARK: - Plumbing

    private struct Empty: Codable {}

    private func send(
        _ method: String, _ path: String, body: Data?, contentType: String?, credential: String,
        headers: [String: String] = [:]
    ) async throws -> Data {
        try await exchange(method, path, body: body, contentType: contentType, credential: credential, headers: headers)
            .data
    }

    private func exchange(
        _ method: String, _ path: String, body: Data?, contentType: String?, credential: String,
        headers: [String: String] = [:]
    ) async throws -> (data: Data, response: HTTPURLResponse) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = method
        request.httpBody = body
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        request.setValue("Bearer " + credential, forHTTPHeaderField: "Authorization")
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw FederationError(
                .transportFailure,
                "\(method) \(baseURL.absoluteString)/\(path) failed: \(error.localizedDescription); is `kbd-sim server` running there?",
                cause: error)
        }
        guard let http = response as? HTTPURLResponse else {
            throw FederationError(.transportFailure, "\(method) \(path): not an HTTP response")
        }
        guard (200..<300).contains(http.statusCode) else {
            if let rejection = try? JSONDecoder().decode(HTTPRejection.self, from: data) { throw rejection }
            throw HTTPRejection(
                http.statusCode, .internalError,
                "\(method) \(path): HTTP \(http.statusCode) \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        return (data, http)
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw FederationError(.protocolViolation, "the server's reply is not a \(type) (\(error))", cause: error)
        }
    }
}

/// `POST …/checkin` body.
public struct CheckInRequest: Codable, Sendable, Equatable {
    public var device: Int
    public init(device: Int) { self.device = device }
}

/// `POST /v1/runs/{run}/finish` body.
public struct FinishRequest: Codable, Sendable, Equatable {
    public var finished: Bool
    public init(finished: Bool) { self.finished = finished }
}

/// The credentials an ``HTTPTransport`` holds: the operator token, each attached run's
/// credential and each open round's device credentials.
final class CredentialWallet: Sendable {
    private struct DeviceKey: Hashable {
        var run: Int64
        var round: Int
        var device: Int
    }

    private struct RoundKey: Hashable {
        var run: Int64
        var round: Int
    }

    private struct State {
        var runs: [Int64: String] = [:]
        var devices: [DeviceKey: String] = [:]
        /// Each secure-aggregation round's cohort (phone index → device).
        var cohorts: [RoundKey: [UInt32]] = [:]
    }

    let operatorToken: String
    private let state = Mutex(State())

    init(operatorToken: String) { self.operatorToken = operatorToken }

    func keep(runCredential: String, run: Int64) {
        state.withLock { $0.runs[run] = runCredential }
    }

    func keep(_ credentials: [DeviceCredential], run: Int64, round: Int) {
        state.withLock { state in
            for c in credentials { state.devices[DeviceKey(run: run, round: round, device: c.device)] = c.credential }
        }
    }

    func forget(run: Int64, round: Int) {
        state.withLock { state in
            state.devices = state.devices.filter { !($0.key.run == run && $0.key.round == round) }
            state.cohorts[RoundKey(run: run, round: round)] = nil
        }
    }

    func keep(cohort: [UInt32], run: Int64, round: Int) {
        state.withLock { $0.cohorts[RoundKey(run: run, round: round)] = cohort }
    }

    func cohort(run: Int64, round: Int) -> [UInt32]? {
        state.withLock { $0.cohorts[RoundKey(run: run, round: round)] }
    }

    func forget(run: Int64) {
        state.withLock { state in
            state.runs[run] = nil
            state.devices = state.devices.filter { $0.key.run != run }
            state.cohorts = state.cohorts.filter { $0.key.run != run }
        }
    }

    func runIfAny(_ run: Int64) -> String? { state.withLock { $0.runs[run] } }

    func deviceIfAny(_ device: Int, run: Int64, round: Int) -> String? {
        state.withLock { $0.devices[DeviceKey(run: run, round: round, device: device)] }
    }

    /// The run's credential; without one, the request goes without and the server says why.
    func run(_ run: Int64) -> String { runIfAny(run) ?? "" }

    func device(_ device: Int, run: Int64, round: Int) -> String { deviceIfAny(device, run: run, round: round) ?? "" }
}
