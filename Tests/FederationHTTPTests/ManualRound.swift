import FederatedCore
import Federation
import FederationHTTP
import FederationProtocol
import Foundation
import LanguageModels
import UpdateCodec

/// Round 1 of a fresh run, driven by hand over HTTP as a fleet would: created with
/// ``tinyRunConfiguration()``, opened for devices 0…7 (the cohort is 5), device 0 checked in
/// and the model downloaded, so tests can send valid and invalid updates.
struct ManualRound: Sendable {
    let base: URL
    let transport: HTTPTransport
    let run: Int64
    let round = 1
    let selected: [UInt32] = Array(0..<8)
    let virtualStart: Int
    let deadline: Int
    let plan: TrainingPlan
    private let layoutHash: UInt64
    private let parameterCount: Int
    private let scheme: CodecScheme

    static func open(at base: URL) async throws -> ManualRound {
        let transport = try HTTPTransport(baseURL: base.absoluteString, token: testOperatorToken)
        let configuration = tinyRunConfiguration()
        let attachment = try await transport.createRun(configuration)
        let start = attachment.virtualTime
        let deadline = start + configuration.reportingDeadline
        try await transport.openRound(
            run: attachment.runID,
            RoundOpening(round: 1, selected: Array(0..<8), virtualStart: start, deadline: deadline))
        let plan = try await transport.checkIn(run: attachment.runID, round: 1, device: 0)
        guard case .neural(let config) = configuration.model else { preconditionFailure("the tests' runs are neural") }
        let model = try LSTMLanguageModel(config: config)
        let download = try await transport.model(run: attachment.runID, round: 1)
        let decoded = try ModelDownload.decodeWeights(
            download, layoutHash: model.layoutHash, parameterCount: model.parameters.count)
        precondition(decoded.version == 0, "a fresh run serves version 0")
        return ManualRound(
            base: base, transport: transport, run: attachment.runID, virtualStart: start, deadline: deadline,
            plan: plan,
            layoutHash: model.layoutHash, parameterCount: model.parameters.count,
            scheme: plan.codec.value)
    }

    /// A valid update as `device` would encode it for `round`: a small deterministic delta
    /// (`variant` changes its values) over 10 training examples.
    func update(device: Int, round: Int = 1, variant: Int = 0) throws -> [UInt8] {
        let delta = (0..<parameterCount).map { i in Float(sin(Double(i * 7 + device * 131 + variant * 17))) * 0.01 }
        let metadata = UpdateMetadata(
            runID: UInt64(run), round: UInt32(round), layoutHash: layoutHash, exampleCount: 10, deviceID: UInt64(device)
        )
        return try UpdateEncoder(scheme: scheme).encode(delta, metadata: metadata, seed: UInt64(device))
    }

    /// Extras of a report at `virtualTime` (default: a minute into the round).
    func extras(at virtualTime: Int? = nil) -> UploadExtras {
        UploadExtras(virtualTime: virtualTime ?? virtualStart + 60)
    }

    /// Uploads `bytes` (default: the device's valid update) through ``HTTPTransport``.
    @discardableResult
    func upload(device: Int, bytes: [UInt8]? = nil, round: Int = 1, virtualTime: Int? = nil) async throws
        -> UploadReceipt
    {
        try await transport.upload(
            run: run, round: round, device: device, bytes: bytes ?? update(device: device),
            extras: extras(at: virtualTime))
    }

    /// ``extras(at:)`` as the upload header's JSON.
    func extrasJSON(at virtualTime: Int? = nil) throws -> String {
        String(decoding: try JSONEncoder().encode(extras(at: virtualTime)), as: UTF8.self)
    }

    /// The credential `device` got when round 1 opened.
    func credential(ofDevice device: Int) -> String {
        transport.deviceCredential(run: run, round: round, device: device) ?? "none issued"
    }

    /// The run credential the create returned.
    var runCredential: String { transport.runCredential(run: run) ?? "none issued" }

    /// A raw exchange with the server, with `credential` as its bearer; a refusal is thrown as
    /// the ``HTTPRejection`` its body decodes as.
    @discardableResult
    func raw(
        _ method: String, _ path: String, body: Data? = nil, credential: String?, headers: [String: String] = [:]
    ) async throws -> RawExchange {
        let exchange = try await RawExchange.send(
            method, path, to: base, body: body, credential: credential, headers: headers)
        guard (200..<300).contains(exchange.status) else { throw try exchange.rejection() }
        return exchange
    }

    /// Uploads valid updates from devices 1…4 (device 0's is the tests' first) and closes
    /// the round.
    func complete() async throws -> RoundSummary {
        for device in 1...4 { try await upload(device: device) }
        return try await transport.closeRound(
            run: run,
            RoundClosing(
                round: round, virtualStart: virtualStart, virtualEnd: virtualStart + 120, selected: selected.count,
                dropped: 0,
                stragglers: 0, surplus: 0, bytesDown: 0, wallSeconds: 0, trainSeconds: 0))
    }
}
