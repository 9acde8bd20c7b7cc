/// A federated run or the aggregation server refused something: what, and how to fix it.
public struct FederationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes for scripts and tests.
    public enum Code: String, Sendable, Codable {
        /// A flag or stored configuration value is out of range.
        case invalidConfiguration
        /// The corpus cannot feed a federated run (too few users, unsupported split).
        case unusableCorpus
        /// A checkpoint is damaged or does not match the run.
        case badCheckpoint
        /// The run cannot be resumed (finished, or nothing committed yet is fine; other cases).
        case cannotResume
        /// The server answered something the client cannot use.
        case protocolViolation
        /// The transport failed (connection refused, timeout).
        case transportFailure
        /// The server rejected a request (see ``ServerRejection``).
        case rejected
    }

    public var code: Code
    public var message: String
    /// The error underneath (the codec's, the store's), if any; not part of equality.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    public static func == (a: Self, b: Self) -> Bool { a.code == b.code && a.message == b.message }
}
