public import ArgumentParser
import FederatedCore
public import FederationProtocol

extension ClientTrainingConfiguration.Optimizer: ExpressibleByArgument {}

extension ParsedSetting {
    /// Parses a flag's value once, at the command line: a bad value is a usage error (exit
    /// 64) naming the flag and saying what is accepted.
    static func parse(_ text: String, flag: String) throws -> Self {
        do {
            return try Self(parsing: text)
        } catch {
            throw ValidationError("\(flag) \(text): \(error)")
        }
    }
}
