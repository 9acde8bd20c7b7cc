/// A problem with a neural model's configuration, file or weights.
///
/// Thrown for bad input (a config with impossible sizes, a truncated or foreign model
/// file, non-finite weights); programmer errors such as mismatched buffer sizes are
/// preconditions instead. Messages name the field or the byte offset, never user text.
public struct NeuralModelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, for callers that branch on it.
    public enum Code: String, Sendable, Hashable {
        /// A configuration field is missing or out of its allowed range.
        case invalidConfig
        /// The file ends before the header or payload says it should.
        case truncatedFile
        /// The file is not a kbd-sim model file, or has an unsupported version.
        case badFormat
        /// The file's model shape (layout hash) differs from the one expected.
        case shapeMismatch
        /// The stored checksum does not match the payload.
        case checksumMismatch
        /// A weight is NaN or infinite.
        case nonFiniteWeights
        /// Reading or writing the file failed.
        case io
    }

    /// What went wrong.
    public var code: Code
    /// A one-line explanation naming the field, offset or tensor involved.
    public var message: String
    /// The file involved, if any.
    public var path: String?
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, path: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.cause = cause
    }

    public var description: String {
        if let path { return "\(code.rawValue): \(message) (\(path))" }
        return "\(code.rawValue): \(message)"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.message == b.message && a.path == b.path
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(path)
    }
}
