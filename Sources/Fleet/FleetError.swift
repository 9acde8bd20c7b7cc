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

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
