public import FederationServer
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
public import ServiceLifecycle
import UnixSignals

/// The aggregation server over HTTP: `kbd-sim server`, the other end of ``HTTPTransport``.
///
/// It routes the round protocol's requests (docs/server.md) to one ``AggregationServer``.
/// Models and updates travel as raw bytes, everything else as JSON encoded with the
/// default `JSONEncoder` and `JSONDecoder` settings (keys sorted), as the client does. Every
/// failure becomes an ``HTTPRejection`` reply (``HTTPRejection/init(mapping:)``): a bad
/// request changes nothing and the server stays up.
///
/// The aggregation server's calls are synchronous and some take seconds (closing a round
/// aggregates and evaluates), so they run on a dispatch queue of their own, never on the
/// event loops or Swift's cooperative threads.
public struct FederationHTTPServer: Service {
    /// Where the server listens and what it accepts.
    public struct Configuration: Sendable, Equatable {
        /// The address to bind (`127.0.0.1` serves only this machine, `0.0.0.0` every interface).
        public var host: String
        /// The TCP port, 0…65535; 0 picks a free port (its number is passed to `onListening`).
        public var port: Int
        /// The largest update body accepted, in bytes (default 64 MiB); larger uploads are
        /// refused with `413 oversized-update` before they are read in full. The aggregation
        /// server also has its own, model-dependent limit.
        public var maximumUpdateBytes: Int
        /// The largest JSON body accepted, in bytes (default 16 MiB: a round opening lists
        /// every selected device).
        public var maximumJSONBytes: Int
        /// Whether `GET /metrics` answers without the operator token (for a Prometheus that
        /// cannot send one; the figures hold ids and counts, never text or credentials).
        public var openMetrics: Bool
        /// TLS: the server's certificate chain and private key (PEM files); nil serves plain HTTP.
        public var tls: TLSFiles?

        /// Creates a configuration; the defaults serve this machine on port 8080 over plain HTTP.
        public init(
            host: String = "127.0.0.1", port: Int = 8080, maximumUpdateBytes: Int = 64 << 20,
            maximumJSONBytes: Int = 16 << 20, openMetrics: Bool = false, tls: TLSFiles? = nil
        ) {
            self.host = host
            self.port = port
            self.maximumUpdateBytes = maximumUpdateBytes
            self.maximumJSONBytes = maximumJSONBytes
            self.openMetrics = openMetrics
            self.tls = tls
        }
    }

    /// The server the routes call.
    public let aggregation: AggregationServer
    /// Who may call which route: the operator token, and the run and device credentials it issues.
    public let credentials: CredentialAuthority
    /// Where to listen and the body limits.
    public let configuration: Configuration
    /// Where the server logs: its start, each run it attaches, each committed round (info),
    /// one line per refused request (info) and each internal error (error).
    public let logger: Logger
    private let onListening: @Sendable (_ port: Int) async -> Void
    let work: BlockingWork

    /// Creates an HTTP server over `aggregation`.
    ///
    /// - Parameter onListening: Called once the socket is bound, with its port (the one
    ///   chosen, for port 0).
    /// - Precondition: `configuration.port` is in 0…65535 and the body limits are positive
    ///   (the command line validates its flags before).
    public init(
        aggregation: AggregationServer, credentials: CredentialAuthority,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "kbd-sim.server"),
        onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) {
        precondition((0...65_535).contains(configuration.port), "port \(configuration.port) is outside 0…65535")
        precondition(
            configuration.maximumUpdateBytes > 0 && configuration.maximumJSONBytes > 0, "body limits must be positive")
        self.aggregation = aggregation
        self.credentials = credentials
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        work = BlockingWork(label: "kbd-sim.server.aggregation")
    }

    /// Serves until the service group it runs in shuts down gracefully (or its task is
    /// cancelled). On graceful shutdown the listener closes and requests in progress (a round
    /// being committed) finish. A round is committed in one transaction, so the store is
    /// consistent whenever the process stops.
    ///
    /// - Throws: If the address cannot be bound (in use, not this machine's, no permission), or
    ///   ``TLSFiles/Failure`` if the TLS certificate or key cannot be read.
    public func run() async throws {
        let onListening = onListening
        let server: HTTPServerBuilder =
            if let tls = configuration.tls { try .tls(.http1(), tlsConfiguration: try tls.serverConfiguration()) } else
            {
                .http1()
            }
        let application = Application(
            router: buildRouter(), server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "kbd-sim"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await application.run()
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully (``run()``): what
    /// `kbd-sim server` does.
    public func runService() async throws {
        let group = ServiceGroup(
            services: [self], gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        try await group.run()
    }

    /// The router with every route of docs/server.md and the middleware that turns failures
    /// into ``HTTPRejection`` replies.
    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(RejectionMiddleware(logger: logger))
        addRunRoutes(to: router)
        addRoundRoutes(to: router)
        addWorkRoutes(to: router)
        addSecureAggregationRoutes(to: router)
        addMonitoringRoutes(to: router)
        return router
    }
}
