/// How an update is encoded: clipping, rotation, quantization and deflate, each optional.
///
/// A scheme has a short textual form (see ``init(parsing:)`` and ``description``), e.g.
/// `clip=1.0,rot,q8s,z1`. The encoder writes every field the decoder needs into the
/// message header, so a decoder never needs the scheme out of band.
public struct CodecScheme: Sendable, Hashable {
    /// How each value is represented on the wire.
    public enum Quantization: Sendable, Hashable {
        /// IEEE 754 binary32, lossless (4 bytes per parameter).
        case float32
        /// IEEE 754 binary16, round to nearest even (2 bytes per parameter).
        ///
        /// Relative error at most 2⁻¹¹ for |x| in [2⁻¹⁴, 65504]; absolute error at most 2⁻²⁵
        /// below 2⁻¹⁴. Values above 65504 in magnitude are rejected at encode time.
        case float16
        /// Uniform `bits`-bit levels between each chunk's minimum and maximum (1…8 bits).
        ///
        /// Per element the error is at most `(max − min) / (2ᵇ − 1)` for stochastic rounding
        /// and half that for nearest rounding, where min and max are the chunk's.
        case uniform(bits: Int, rounding: Rounding)

        /// Bits per parameter before packing overhead and scales: 32, 16 or 1…8.
        public var bitsPerValue: Int {
            switch self {
            case .float32: 32
            case .float16: 16
            case .uniform(let bits, _): bits
            }
        }
    }

    /// Rounding rule for uniform quantization.
    public enum Rounding: Sendable, Hashable {
        /// Round to the nearest level (biased, smallest worst-case error).
        case nearest
        /// Round up with probability equal to the fractional position (unbiased in expectation).
        ///
        /// Dither comes from 24-bit uniforms drawn from a seeded ``FederatedCore/SplitMix64``,
        /// so the bias is at most 2⁻²⁴ of one level.
        case stochastic
    }

    /// zlib's compression strategy (`deflateInit2`'s `strategy` argument).
    public enum ZlibStrategy: Sendable, Hashable {
        /// `Z_DEFAULT_STRATEGY`: LZ77 matching plus Huffman coding.
        case standard
        /// `Z_HUFFMAN_ONLY`: no string matching; fastest, still codes the value entropy.
        case huffmanOnly
        /// `Z_RLE`: matches at distance one only (runs of equal bytes).
        case runLength
    }

    /// The L2-norm bound the delta is scaled down to, if any (finite, > 0).
    public var clipNorm: Float?
    /// Whether a randomized Hadamard rotation is applied before quantization.
    public var rotate: Bool
    /// Largest rotation block, in elements: a power of two in 2…2²⁰ (default 65 536).
    ///
    /// The vector is zero-padded to a multiple of the block actually used: this value or the
    /// next power of two ≥ the parameter count, whichever is smaller, halved (not below 1024)
    /// while padding would exceed 1/16 of the parameters. The header records the block used.
    public var rotationBlock: Int
    /// How each value is represented.
    public var quantization: Quantization
    /// Elements that share one (min, max) scale pair in uniform quantization: 1…65 536.
    public var chunkSize: Int
    /// zlib level 0…9; 0 stores the payload without a zlib stream.
    public var zlibLevel: Int
    /// zlib strategy, used when ``zlibLevel`` > 0.
    public var zlibStrategy: ZlibStrategy

    /// The default rotation block: 65 536 elements (256 KiB of Float, one L2-sized window).
    public static let defaultRotationBlock = 1 << 16
    /// The largest rotation block the wire format accepts: 2²⁰ elements.
    public static let maxRotationBlock = 1 << 20
    /// The default chunk size for uniform quantization: 1024 elements (64 bits of scale each).
    public static let defaultChunkSize = 1024
    /// The largest chunk size the wire format accepts: 65 536 elements.
    public static let maxChunkSize = 1 << 16

    /// Creates a scheme; the defaults are lossless float32 with no compression.
    ///
    /// Preconditions: `clipNorm` finite and > 0, `rotationBlock` a power of two in 2…2²⁰,
    /// `chunkSize` in 1…65 536, `zlibLevel` in 0…9, uniform bits in 1…8. Use
    /// ``init(parsing:)`` for untrusted text.
    public init(
        clipNorm: Float? = nil,
        rotate: Bool = false,
        rotationBlock: Int = CodecScheme.defaultRotationBlock,
        quantization: Quantization = .float32,
        chunkSize: Int = CodecScheme.defaultChunkSize,
        zlibLevel: Int = 0,
        zlibStrategy: ZlibStrategy = .standard
    ) {
        if let clipNorm { precondition(clipNorm.isFinite && clipNorm > 0, "clip norm must be finite and > 0") }
        precondition(
            rotationBlock >= 2 && rotationBlock <= Self.maxRotationBlock && rotationBlock.nonzeroBitCount == 1,
            "rotation block must be a power of two in 2...\(Self.maxRotationBlock)")
        precondition((1...Self.maxChunkSize).contains(chunkSize), "chunk size must be in 1...\(Self.maxChunkSize)")
        precondition((0...9).contains(zlibLevel), "zlib level must be in 0...9")
        if case .uniform(let bits, _) = quantization { precondition((1...8).contains(bits), "bits must be in 1...8") }
        self.clipNorm = clipNorm
        self.rotate = rotate
        self.rotationBlock = rotationBlock
        self.quantization = quantization
        self.chunkSize = chunkSize
        self.zlibLevel = zlibLevel
        self.zlibStrategy = zlibStrategy
    }
}
