import Foundation

/// What a stage records about one round (monitoring): stored with the round, shown by
/// `kbd-sim runs show` and in the JSON output. Counts and statistics only, never an update.
public struct StageReport: Sendable, Equatable, Codable {
    /// The stage's name in the chain.
    public var stage: String
    /// The stage's figures as compact, key-sorted JSON.
    public var json: String

    /// A report of `stage` holding `payload` encoded as JSON.
    public init(stage: String, payload: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.stage = stage
        // Encoding plain value types cannot fail; a stage's payload is one.
        json = String(decoding: (try? encoder.encode(payload)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// Decodes the payload as `type`.
    public func payload<T: Decodable>(as type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }
}
