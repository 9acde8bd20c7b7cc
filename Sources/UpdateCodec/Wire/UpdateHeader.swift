/// The fixed 88-byte header of an encoded update (wire format version 1).
///
/// All integers little-endian. Byte table (see `docs/codec.md`):
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 4 | magic `KBDU` |
/// | 4 | 2 | version (1) |
/// | 6 | 1 | quantization kind: 0 f32, 1 f16, 2 uniform |
/// | 7 | 1 | bits: 32, 16 or 1…8 |
/// | 8 | 1 | flags: bit 0 stochastic, bit 1 rotated, bit 2 clipped; others 0 |
/// | 9 | 1 | log2 rotation block, 0…20 (0 when not rotated) |
/// | 10 | 1 | zlib level 0…9 (0: payload stored raw) |
/// | 11 | 1 | zlib strategy: 0 default, 1 Huffman only, 2 RLE (0 when level 0) |
/// | 12 | 4 | chunk size 1…65 536 (0 for f32/f16) |
/// | 16 | 8 | parameter count |
/// | 24 | 8 | seed (rotation signs) |
/// | 32 | 4 | clip norm, float32 (0 when not clipped) |
/// | 36 | 4 | reserved, 0 |
/// | 40 | 8 | run ID |
/// | 48 | 4 | round |
/// | 52 | 4 | example count |
/// | 56 | 8 | layout hash |
/// | 64 | 8 | device ID |
/// | 72 | 8 | raw payload length (bytes after inflate) |
/// | 80 | 8 | stored payload length (bytes that follow) |
/// | 88 | n | payload |
/// | 88+n | 4 | CRC-32 (zlib) of bytes 0 ..< 88+n |
public struct UpdateHeader: Sendable, Hashable {
    /// The wire format version this build writes and reads.
    public static let currentVersion: UInt16 = 1
    /// Header size in bytes.
    public static let size = 88
    /// Header plus checksum: the size of a message with an empty payload.
    public static let overhead = size + 4
    /// The magic bytes `KBDU`.
    public static let magic: [UInt8] = [0x4B, 0x42, 0x44, 0x55]

    /// The device's description of the update.
    public var metadata: UpdateMetadata
    /// The scheme the update was encoded with, as far as the header records it: the chunk size
    /// is the default for f32/f16, and ``CodecScheme/rotationBlock`` is the block actually used
    /// (see ``rotationBlockLog2``), which can be smaller than the encoder's setting.
    public var scheme: CodecScheme
    /// Number of parameters in the delta (before rotation padding).
    public var parameterCount: Int
    /// Seed of the rotation's random signs.
    public var seed: UInt64
    /// Log2 of the rotation block actually used (0 when not rotated).
    public var rotationBlockLog2: Int
    /// Payload length after inflate, in bytes.
    public var rawPayloadLength: Int
    /// Payload length on the wire, in bytes.
    public var storedPayloadLength: Int

    /// Elements after zero-padding to a whole number of rotation blocks.
    public var paddedCount: Int {
        scheme.rotate ? Self.roundUp(parameterCount, toMultipleOf: 1 << rotationBlockLog2) : parameterCount
    }

    /// Total message length in bytes.
    public var messageLength: Int { Self.overhead + storedPayloadLength }

    static func roundUp(_ value: Int, toMultipleOf step: Int) -> Int {
        (value + step - 1) / step * step
    }

    /// Log2 of the rotation block the encoder uses for `count` parameters.
    ///
    /// Starts from min(`maxBlock`, next power of two ≥ count) and halves the block, down to
    /// 1024, while zero padding would exceed count/16: 20 000 parameters use 4096-blocks
    /// (2.4 % padding) rather than one 32 768-block (64 %).
    static func rotationBlockLog2(count: Int, maxBlock: Int) -> Int {
        var log2 = min(nextPowerOfTwoLog2(count), maxBlock.trailingZeroBitCount)
        while log2 > 10 && roundUp(count, toMultipleOf: 1 << log2) - count > count / 16 { log2 -= 1 }
        return log2
    }

    /// ⌈log2(count)⌉, 0 for count ≤ 1.
    static func nextPowerOfTwoLog2(_ count: Int) -> Int {
        count <= 1 ? 0 : Int.bitWidth - (count - 1).leadingZeroBitCount
    }

    /// Raw payload bytes for `count` padded elements, or nil on overflow.
    static func rawPayloadLength(paddedCount count: Int, quantization: CodecScheme.Quantization, chunkSize: Int)
        -> Int?
    {
        switch quantization {
        case .float32: return count.multipliedReportingOverflow(by: 4).overflow ? nil : count * 4
        case .float16: return count.multipliedReportingOverflow(by: 2).overflow ? nil : count * 2
        case .uniform(let bits, _):
            guard count < Int.max / 16 else { return nil }
            let full = count / chunkSize
            let last = count % chunkSize
            var total = full * ChunkRecord.size(count: chunkSize, bits: bits)
            if last > 0 { total += ChunkRecord.size(count: last, bits: bits) }
            return total
        }
    }
}

/// Byte layout of one uniform-quantization chunk: min (f32), max (f32), packed codes.
enum ChunkRecord {
    /// Bytes in a record of `count` codes of `bits` bits: 8 + ⌈count·bits/8⌉.
    static func size(count: Int, bits: Int) -> Int { 8 + (count * bits + 7) / 8 }
}
