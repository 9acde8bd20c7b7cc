/// Bad input or a bad environment met by the run store.
public struct RunStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unusableDatabase
        case noSuchRun
        case roundAlreadyCommitted
        case outOfOrder
    }

    public var code: Code
    public var message: String
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String { (path.map { "\($0): " } ?? "") + message }
}
