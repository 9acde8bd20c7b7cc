/// A setting with a text form (`--codec rot,q8s,z1`, `--server-opt fedadam:lr=0.01`) that
/// parses, or refuses, once.
public protocol TextParsable: Sendable, Equatable {
    /// Parses the setting's text form.
    ///
    /// - Throws: an error whose description says what is wrong and what is accepted.
    init(parsing text: String) throws
}

/// A setting parsed once at the edge and kept with the spelling it was given, so that stored
/// configurations, tables and resumed runs show exactly what the user wrote.
///
/// It encodes as its text (a JSON string), so a stored run configuration reads the same as
/// before the setting was typed; decoding parses the text again and refuses a bad one.
public struct ParsedSetting<Value: TextParsable>: Sendable, Equatable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The text as given.
    public let text: String
    /// The parsed value.
    public let value: Value

    /// Parses `text`.
    public init(parsing text: String) throws {
        value = try Value(parsing: text)
        self.text = text
    }

    /// A literal in code; an invalid literal is a programmer error.
    public init(stringLiteral text: String) {
        do {
            try self.init(parsing: text)
        } catch {
            preconditionFailure("invalid setting literal '\(text)': \(error)")
        }
    }

    public var description: String { text }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' does not parse: \(error)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    public static func == (a: Self, b: Self) -> Bool { a.text == b.text && a.value == b.value }
}
