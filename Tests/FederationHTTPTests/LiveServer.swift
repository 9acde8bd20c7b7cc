import FederationHTTP
import FederationProtocol
import FederationServer
import Foundation
import LanguageModelTypes
import LanguageModels
import Logging
import ServiceLifecycle
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The operator token of the tests' servers.
let testOperatorToken = "kbd-sim-test-operator-token-0123456789abcdef"

/// Serves `aggregation` over HTTP on an ephemeral port of 127.0.0.1 for the duration of
/// `body`, which gets the server's base URL; the server shuts down gracefully when `body`
/// returns or throws. Its operator token is ``testOperatorToken``.
func withLiveServer<T: Sendable>(
    _ aggregation: AggregationServer,
    maximumUpdateBytes: Int = 64 << 20,
    openMetrics: Bool = false,
    tls: TLSFiles? = nil,
    logger: Logger? = nil,
    _ body: @Sendable (URL) async throws -> T
) async throws -> T {
    let logger =
        logger
        ?? {
            var logger = Logger(label: "kbd-sim.server.test")
            // Refusals are the point of several tests; only internal errors are worth printing.
            logger.logLevel = .error
            return logger
        }()
    let (ports, listening) = AsyncStream.makeStream(of: Int.self)
    let server = FederationHTTPServer(
        aggregation: aggregation, credentials: try CredentialAuthority(operatorToken: testOperatorToken),
        configuration: .init(
            host: "127.0.0.1", port: 0, maximumUpdateBytes: maximumUpdateBytes, openMetrics: openMetrics, tls: tls),
        logger: logger,
        onListening: { port in listening.yield(port) })
    let group = ServiceGroup(services: [server], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { listening.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The server stopped before it listened: its error, if any, explains why.
            try await tasks.waitForAll()
            throw ServerDidNotListen()
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(URL(string: "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)")!))
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// The server returned without listening and without an error.
struct ServerDidNotListen: Error {}

/// The configuration of the tests' runs: the tiny synthetic corpus, `lstm-tiny` over a
/// 100-word vocabulary, 2,000 phones, cohorts of 5, 3 rounds, evaluating every round.
func tinyRunConfiguration() -> RunConfiguration {
    var c = RunConfiguration()
    c.corpus = "synthetic:" + repositoryRoot.appendingPathComponent("corpora/synthetic-tiny.json").path
    c.vocabularySize = 100
    var model = ModelConfig.preset(named: "lstm-tiny")!
    model.vocabularySize = c.vocabularySize + 4
    c.modelName = model.name
    c.model = .neural(model)
    c.devices = 2_000
    c.cohort = 5
    c.rounds = 3
    c.evalEvery = 1
    c.federatedEval = true
    c.seed = 11
    return c
}

/// The repository's root (for corpora/).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// One raw HTTP exchange, for requests ``HTTPTransport`` cannot express (bad JSON, a missing
/// header, a non-integer path).
struct RawExchange {
    var status: Int
    var body: Data
    var contentType: String?

    /// Sends `method path` to `base` with `body` and `headers`, and `credential` as its bearer.
    static func send(
        _ method: String, _ path: String, to base: URL, body: Data? = nil, credential: String? = nil,
        headers: [String: String] = [:]
    ) async throws -> RawExchange {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = method
        request.httpBody = body
        if let credential { request.setValue("Bearer " + credential, forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return RawExchange(
            status: http.statusCode, body: data, contentType: http.value(forHTTPHeaderField: "Content-Type"))
    }

    /// The body as the server's refusal; throws if it is not one.
    func rejection() throws -> HTTPRejection {
        try JSONDecoder().decode(HTTPRejection.self, from: body)
    }
}
