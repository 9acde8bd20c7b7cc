/// Bad input or a bad environment met while reading, splitting or caching a corpus.
///
/// Messages name what was wrong, where (file, line, record or byte offset) and how to fix
/// it. They never quote message text: users' words stay out of logs and errors.
public struct CorpusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; stable for tests and scripts.
    public enum Code: String, Sendable {
        case fileNotFound
        case unreadable
        case unknownFormat
        case notAZipArchive
        case notTheCorpus
        case corruptArchive
        case malformedXML
        case invalidUTF8
        case malformedRecord
        case emptyCorpus
        case tooFewUsers
        case invalidVocabularySize
        case invalidSpec
        case corruptCache
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence for a person: what, where, and how to fix it.
    public var message: String
    /// The file involved, if any.
    public var path: String?
    /// A 1-based line, record or message number, or a byte offset, as `message` says.
    public var location: Int?
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    public init(
        _ code: Code, _ message: String, path: String? = nil, location: Int? = nil, cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.location = location
        self.cause = cause
    }

    public var description: String {
        var prefix = ""
        if let path { prefix = "\(path): " }
        return prefix + message
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.message == b.message && a.path == b.path && a.location == b.location
    }
}
