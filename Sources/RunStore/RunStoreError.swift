/// Bad input or a bad environment met by the run store.
public struct RunStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unusableDatabase
        case noSuchRun
        case roundAlreadyCommitted
        case outOfOrder
        case noSuchRound
        case cannotBranch
    }

    public var code: Code
    public var message: String
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
