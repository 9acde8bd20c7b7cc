/// Bad input met while building, loading or saving a language model.
///
/// Like every kbd-sim error it names what was wrong, where (file and line, or field) and
/// how to fix it, and never quotes user text beyond a vocabulary word of a model file.
public struct LanguageModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; stable for tests and scripts.
    public enum Code: String, Sendable {
        case invalidOrder
        case noTrainingData
        case vocabularyTooLarge
        case badHeader
        case truncated
        case malformedLine
        case unknownWord
        case unreadable
        case invalidConfig
        case shapeMismatch
        case nonFinite
        case unknownModel
        case invalidCounts
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence for a person: what, where, how to fix it.
    public var message: String
    /// The file involved, if any.
    public var path: String?
    /// A 1-based line number, when the error is about one line.
    public var line: Int?
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    public init(
        _ code: Code, _ message: String, path: String? = nil, line: Int? = nil, cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.line = line
        self.cause = cause
    }

    public var description: String {
        var prefix = path.map { "\($0): " } ?? ""
        if let line { prefix += "line \(line): " }
        return prefix + message
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.message == b.message && a.path == b.path && a.line == b.line
    }
}
