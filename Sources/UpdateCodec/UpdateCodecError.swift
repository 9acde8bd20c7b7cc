/// A message the codec refused to encode or decode, naming the field and the byte offset.
///
/// The decoder throws one of these for every malformed message; it never traps on input.
/// Messages carry IDs, counts and offsets only, never values from the update.
public struct UpdateCodecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public enum Code: String, Sendable, Hashable {
        // Encode side.
        /// The delta contains NaN or ±infinity (``UpdateCodecError/index`` says where).
        case nonFiniteInput
        /// A value does not fit the chosen representation (float16 beyond ±65504).
        case valueOutOfRange
        /// The delta is larger than the wire format allows (2³² − 1 parameters, raw payload > 2 GiB).
        case inputTooLarge
        // Framing.
        /// The first four bytes are not `KBDU`.
        case badMagic
        /// The format version is not one this decoder reads.
        case unsupportedVersion
        /// The message ends before the header or the declared payload and checksum.
        case truncated
        /// Bytes follow the checksum.
        case trailingBytes
        /// The CRC-32 over header and payload does not match.
        case checksumMismatch
        // Header fields.
        /// A header field holds a value outside its documented range.
        case invalidField
        /// A field reserved for future use is not zero.
        case reservedNotZero
        /// The declared bit width does not match the quantization kind, or is outside 1…8.
        case bitsOutOfRange
        /// More parameters than the decoder's limit, or than the accumulator expects.
        case parameterCountMismatch
        /// The model layout hash is not the one the decoder expects.
        case layoutHashMismatch
        /// The declared sizes exceed the decoder's limits (zip-bomb guard) or disagree with
        /// what the parameter count and bit width imply.
        case payloadSizeMismatch
        // Payload.
        /// zlib rejected the stream, or it ended early, or it holds bytes after its end.
        case corruptPayload
        /// A chunk scale is NaN or infinite, or its maximum is below its minimum.
        case nonFiniteScale
        /// A float16/float32 payload value is NaN or infinite.
        case nonFiniteValue
        /// zlib reported an internal failure (out of memory, version mismatch).
        case zlibFailure
    }

    /// What was wrong.
    public var code: Code
    /// The header field or payload part concerned, e.g. `"version"`, `"scale.max"`.
    public var field: String
    /// One sentence for a log line.
    public var message: String
    /// Byte offset in the message where the problem is, when known.
    public var offset: Int?
    /// Parameter (or chunk) index where the problem is, when known.
    public var index: Int?
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(
        code: Code, field: String, message: String, offset: Int? = nil, index: Int? = nil,
        cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.field = field
        self.message = message
        self.offset = offset
        self.index = index
        self.cause = cause
    }

    /// `"<field>: <message> [code, offset N, index M]"`.
    public var description: String {
        var place = code.rawValue
        if let offset { place += ", offset \(offset)" }
        if let index { place += ", index \(index)" }
        return "\(field): \(message) [\(place)]"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.field == b.field && a.message == b.message && a.offset == b.offset && a.index == b.index
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(field)
        hasher.combine(message)
        hasher.combine(offset)
        hasher.combine(index)
    }
}
