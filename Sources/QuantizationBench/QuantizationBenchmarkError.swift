/// A `kbd-sim bench quant` plan that cannot run: what is wrong, and how to fix it.
///
/// Thrown before any run starts, so a bad plan never writes to the run store.
public struct QuantizationBenchmarkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes for scripts and tests.
    public enum Code: String, Sendable, Codable {
        /// The codec list is empty.
        case emptyCodecList
        /// An entry of the codec list is not a codec.
        case unknownCodec
        /// An entry of the codec list sets its zlib level (the levels come from `--zlib`).
        case zlibInCodec
        /// Two entries of the codec list (or two zlib levels, or two seeds) are the same.
        case duplicate
        /// A zlib level outside 0…9, or an empty level list.
        case invalidZlibLevel
        /// No seeds.
        case invalidSeeds
        /// A target accuracy outside (0, 1].
        case invalidTarget
        /// The model cannot be quantized (n-gram count updates have no codec).
        case unsupportedModel
        /// The base run configuration is invalid (a flag out of range).
        case invalidConfiguration
    }

    public var code: Code
    /// One sentence: what was wrong, where, and what is accepted.
    public var message: String
    /// The offending entry as written (a codec, a level, a seed), if one is to blame.
    public var entry: String?
    /// The error underneath (the file system's, zlib's, another layer's), if any; not part of
    /// equality.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, entry: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.entry = entry
        self.cause = cause
    }

    public var description: String { message }

    public static func == (a: Self, b: Self) -> Bool {
        a.code == b.code && a.message == b.message && a.entry == b.entry
    }
}
