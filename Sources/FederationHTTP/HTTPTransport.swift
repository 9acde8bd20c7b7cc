public import FederationProtocol
public import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The fleet's side of the HTTP transport: the same calls as ``InProcessTransport``, sent to
/// `kbd-sim server` (see docs/server.md for the routes).
///
/// Models and updates travel as raw bytes (`application/octet-stream`); everything else as
/// JSON. A refusal comes back as its HTTP status with an ``HTTPRejection`` JSON body and is
/// rethrown as that ``HTTPRejection`` (its status, reason and message).
public struct HTTPTransport: ServerTransport {
    public let baseURL: URL
    private let session: URLSession
    public var name: String { baseURL.absoluteString }

    /// The header carrying an upload's ``UploadExtras`` as JSON.
    public static let extrasHeader = "X-KbdSim-Extras"

    /// Creates a transport for a server at `baseURL` (e.g. `http://127.0.0.1:8080`).
    ///
    /// - Throws: ``FederationError/Code/invalidConfiguration`` if it is not an http(s) URL.
    public init(baseURL text: String, timeout: TimeInterval = 600) throws {
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
    }

    public func createRun(_ configuration: RunConfiguration) async throws -> RunAttachment {
        try await json("POST", "v1/runs", body: configuration)
    }

    public func resumeRun(id: Int64) async throws -> RunAttachment {
        try await json("POST", "v1/runs/\(id)/resume", body: Empty())
    }

    public func openRound(run: Int64, _ opening: RoundOpening) async throws {
        _ = try await send(
            "POST", "v1/runs/\(run)/rounds", body: try Self.encode(opening), contentType: "application/json")
    }

    public func checkIn(run: Int64, round: Int, device: Int) async throws -> TrainingPlan {
        try await json("POST", "v1/runs/\(run)/rounds/\(round)/checkin", body: CheckInRequest(device: device))
    }

    public func model(run: Int64, round: Int) async throws -> [UInt8] {
        [UInt8](try await send("GET", "v1/runs/\(run)/rounds/\(round)/model", body: nil, contentType: nil))
    }

    public func upload(run: Int64, round: Int, device: Int, bytes: [UInt8], extras: UploadExtras) async throws
        -> UploadReceipt
    {
        let data = try await send(
            "PUT", "v1/runs/\(run)/rounds/\(round)/updates/\(device)", body: Data(bytes),
            contentType: "application/octet-stream",
            headers: [Self.extrasHeader: String(decoding: try Self.encode(extras), as: UTF8.self)])
        return try Self.decode(UploadReceipt.self, data)
    }

    public func closeRound(run: Int64, _ closing: RoundClosing) async throws -> RoundSummary {
        try await json("POST", "v1/runs/\(run)/rounds/\(closing.round)/close", body: closing)
    }

    public func finishRun(_ run: Int64, finished: Bool) async throws {
        _ = try await send(
            "POST", "v1/runs/\(run)/finish", body: try Self.encode(FinishRequest(finished: finished)),
            contentType: "application/json")
    }

    /// `GET /v1/status`.
    public func status() async throws -> ServerStatus {
        try Self.decode(ServerStatus.self, try await send("GET", "v1/status", body: nil, contentType: nil))
    }

    // MARK: - Plumbing

    private struct Empty: Codable {}

    private func json<Body: Encodable, Reply: Decodable>(_ method: String, _ path: String, body: Body) async throws
        -> Reply
    {
        let data = try await send(method, path, body: try Self.encode(body), contentType: "application/json")
        return try Self.decode(Reply.self, data)
    }

    private func send(
        _ method: String, _ path: String, body: Data?, contentType: String?, headers: [String: String] = [:]
    ) async throws -> Data {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = method
        request.httpBody = body
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
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
        return data
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
