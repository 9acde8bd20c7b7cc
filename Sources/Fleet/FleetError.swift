/// Bad input to the fleet simulator: a configuration out of range or a request it cannot meet.
public struct FleetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; stable for tests and scripts.
    public enum Code: String, Sendable {
        /// A population or round parameter is out of range.
        case invalidConfiguration
        /// A cohort larger than the population, or otherwise impossible.
        case cohortTooLarge
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence for a person: what was wrong and how to fix it.
    public var message: String
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.message == b.message
    }
}
