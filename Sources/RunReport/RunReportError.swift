/// Bad input or a bad environment met while building a report: what, where, and how to fix it.
public struct RunReportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes for scripts and tests.
    public enum Code: String, Sendable {
        /// No run id was given.
        case noRuns
        /// A run id is not in the store.
        case noSuchRun
        /// The runs were trained on different corpora and mixing was not allowed.
        case mixedCorpora
        /// The output file cannot be written (missing folder, no permission).
        case unwritableOutput
    }

    public var code: Code
    public var message: String
    /// The file concerned (the store or the output), if any.
    public var path: String?
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, path: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.cause = cause
    }

    public var description: String { (path.map { "\($0): " } ?? "") + message }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.message == b.message && a.path == b.path
    }
}
