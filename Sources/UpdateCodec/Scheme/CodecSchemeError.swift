/// A scheme string that could not be parsed: which token, what was wrong, what is accepted.
public struct CodecSchemeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of mistake the scheme string contains.
    public enum Code: String, Sendable, Hashable {
        /// The string has no tokens.
        case emptyScheme
        /// A token is not part of the grammar.
        case unknownToken
        /// `q<bits>…` with bits outside 1…8.
        case bitsOutOfRange
        /// `z<level>` with level outside 0…9.
        case levelOutOfRange
        /// `clip=` with a value that is not a finite number > 0.
        case invalidClip
        /// `chunk=` outside 1…65 536.
        case invalidChunkSize
        /// `rot=` that is not a power of two in 2…2²⁰.
        case invalidRotationBlock
        /// Two tokens set the same setting (e.g. `q8s,q4s`).
        case duplicateSetting
    }

    /// What was wrong.
    public var code: Code
    /// The offending token as written (empty for ``Code/emptyScheme``).
    public var token: String
    /// One sentence saying what was wrong and what is accepted.
    public var message: String
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(code: Code, token: String, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.token = token
        self.message = message
        self.cause = cause
    }

    /// `"<message> [code, token 'x']"`.
    public var description: String {
        "\(message) [\(code.rawValue), token '\(token)']"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.token == b.token && a.message == b.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(token)
        hasher.combine(message)
    }
}
