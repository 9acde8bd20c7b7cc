/// Bad configuration or input met by the aggregation side.
public struct AggregationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidOptimizer
        case invalidStage
        case malformedUpdate
        case noReports
        case shapeMismatch
    }

    public var code: Code
    public var message: String
    /// The error underneath, if another layer's (e.g. the codec's); not part of equality.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    public static func == (a: Self, b: Self) -> Bool { a.code == b.code && a.message == b.message }
}
