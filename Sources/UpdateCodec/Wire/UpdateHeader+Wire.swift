internal import CZlib
internal import FederatedCore

extension UpdateHeader {
    /// Writes the 88 header bytes at `base`.
    func write(to base: UnsafeMutableRawPointer) {
        var w = ByteWriter(base: base)
        w.append(Self.magic)
        w.u16(Self.currentVersion)
        switch scheme.quantization {
        case .float32:
            w.u8(0)
            w.u8(32)
        case .float16:
            w.u8(1)
            w.u8(16)
        case .uniform(let bits, _):
            w.u8(2)
            w.u8(UInt8(bits))
        }
        var flags: UInt8 = 0
        if case .uniform(_, .stochastic) = scheme.quantization { flags |= 1 }
        if scheme.rotate { flags |= 2 }
        if scheme.clipNorm != nil { flags |= 4 }
        w.u8(flags)
        w.u8(UInt8(scheme.rotate ? rotationBlockLog2 : 0))
        w.u8(UInt8(scheme.zlibLevel))
        w.u8(scheme.zlibLevel == 0 ? 0 : Self.strategyCode(scheme.zlibStrategy))
        if case .uniform = scheme.quantization { w.u32(UInt32(scheme.chunkSize)) } else { w.u32(0) }
        w.u64(UInt64(parameterCount))
        w.u64(seed)
        w.u32((scheme.clipNorm ?? 0).bitPattern)
        w.u32(0)
        w.u64(metadata.runID)
        w.u32(metadata.round)
        w.u32(metadata.exampleCount)
        w.u64(metadata.layoutHash)
        w.u64(metadata.deviceID)
        w.u64(UInt64(rawPayloadLength))
        w.u64(UInt64(storedPayloadLength))
        assert(w.offset == Self.size)
    }

    static func strategyCode(_ strategy: CodecScheme.ZlibStrategy) -> UInt8 {
        switch strategy {
        case .standard: 0
        case .huffmanOnly: 1
        case .runLength: 2
        }
    }

    /// Validates framing and every header field of `message`, then its checksum.
    ///
    /// Checks, in order: magic, version, header length, each field's range, declared sizes
    /// against `limits` and against the sizes the fields imply, total length (truncated or
    /// trailing), CRC-32. Nothing is allocated and nothing is inflated.
    static func validate(_ message: UnsafeRawBufferPointer, limits: DecodeLimits) throws(UpdateCodecError)
        -> UpdateHeader
    {
        let magicBytes = min(message.count, 4)
        for i in 0..<magicBytes where message[i] != magic[i] {
            throw UpdateCodecError(code: .badMagic, field: "magic", message: "not a kbd-sim update", offset: i)
        }
        guard message.count >= 6 else {
            throw UpdateCodecError(
                code: .truncated, field: "header", message: "message of \(message.count) bytes has no version",
                offset: message.count)
        }
        var r = ByteReader(message, offset: 4)
        let version = r.u16()
        guard version == currentVersion else {
            throw UpdateCodecError(
                code: .unsupportedVersion, field: "version",
                message: "format version \(version) is not supported (this decoder reads \(currentVersion))", offset: 4)
        }
        guard message.count >= size else {
            throw UpdateCodecError(
                code: .truncated, field: "header",
                message: "message of \(message.count) bytes is shorter than the header",
                offset: message.count)
        }
        let kind = r.u8()
        let bits = Int(r.u8())
        let flags = r.u8()
        let blockLog2 = Int(r.u8())
        let level = Int(r.u8())
        let strategyCode = r.u8()
        let chunk = Int(r.u32())
        let count = r.u64()
        let seed = r.u64()
        let clipBits = r.u32()
        let reserved = r.u32()
        let runID = r.u64()
        let round = r.u32()
        let examples = r.u32()
        let layoutHash = r.u64()
        let deviceID = r.u64()
        let raw = r.u64()
        let stored = r.u64()

        func invalid(_ field: String, _ offset: Int, _ text: String) -> UpdateCodecError {
            UpdateCodecError(code: .invalidField, field: field, message: text, offset: offset)
        }
        guard flags & ~7 == 0 else {
            throw UpdateCodecError(code: .reservedNotZero, field: "flags", message: "unknown flag bits set", offset: 8)
        }
        guard reserved == 0 else {
            throw UpdateCodecError(
                code: .reservedNotZero, field: "reserved", message: "reserved field is not zero", offset: 36)
        }
        let stochastic = flags & 1 != 0
        let rotated = flags & 2 != 0
        let clipped = flags & 4 != 0

        var scheme = CodecScheme()
        switch kind {
        case 0, 1:
            guard bits == (kind == 0 ? 32 : 16) else {
                throw UpdateCodecError(
                    code: .bitsOutOfRange, field: "bits", message: "bits \(bits) do not match the float kind", offset: 7
                )
            }
            guard !stochastic else { throw invalid("flags", 8, "stochastic flag set on a float payload") }
            guard chunk == 0 else { throw invalid("chunkSize", 12, "chunk size must be 0 for float payloads") }
            scheme.quantization = kind == 0 ? .float32 : .float16
        case 2:
            guard (1...8).contains(bits) else {
                throw UpdateCodecError(
                    code: .bitsOutOfRange, field: "bits", message: "bits \(bits) outside 1...8", offset: 7)
            }
            guard (1...CodecScheme.maxChunkSize).contains(chunk) else {
                throw invalid("chunkSize", 12, "chunk size \(chunk) outside 1...\(CodecScheme.maxChunkSize)")
            }
            scheme.quantization = .uniform(bits: bits, rounding: stochastic ? .stochastic : .nearest)
            scheme.chunkSize = chunk
        default:
            throw invalid("quantization", 6, "unknown quantization kind \(kind)")
        }
        guard count <= UInt64(limits.maxParameterCount), count <= UInt64(UInt32.max) else {
            throw UpdateCodecError(
                code: .parameterCountMismatch, field: "parameterCount",
                message: "\(count) parameters exceed the limit of \(min(limits.maxParameterCount, Int(UInt32.max)))",
                offset: 16)
        }
        let parameterCount = Int(count)
        let maxLog2 = CodecScheme.maxRotationBlock.trailingZeroBitCount
        if rotated {
            // The encoder never uses a block above the next power of two >= count; a larger one
            // would only add padding for the decoder to process, so it is refused.
            guard blockLog2 <= min(maxLog2, nextPowerOfTwoLog2(parameterCount)) else {
                throw invalid(
                    "rotationBlock", 9, "rotation block 2^\(blockLog2) is not valid for \(parameterCount) parameters")
            }
            scheme.rotate = true
            scheme.rotationBlock = max(2, 1 << blockLog2)
        } else if blockLog2 != 0 {
            throw invalid("rotationBlock", 9, "rotation block set on an unrotated payload")
        }
        guard (0...9).contains(level) else { throw invalid("zlibLevel", 10, "zlib level \(level) outside 0...9") }
        scheme.zlibLevel = level
        switch (level, strategyCode) {
        case (0, 0), (_, 0): scheme.zlibStrategy = .standard
        case (1..., 1): scheme.zlibStrategy = .huffmanOnly
        case (1..., 2): scheme.zlibStrategy = .runLength
        default: throw invalid("zlibStrategy", 11, "zlib strategy \(strategyCode) invalid for level \(level)")
        }
        let clip = Float(bitPattern: clipBits)
        if clipped {
            guard clip.isFinite, clip > 0 else { throw invalid("clipNorm", 32, "clip norm must be finite and > 0") }
            scheme.clipNorm = clip
        } else if clipBits != 0 {
            throw invalid("clipNorm", 32, "clip norm set without the clipped flag")
        }

        var header = UpdateHeader(
            metadata: UpdateMetadata(
                runID: runID, round: round, layoutHash: layoutHash, exampleCount: examples, deviceID: deviceID),
            scheme: scheme, parameterCount: parameterCount, seed: seed,
            rotationBlockLog2: rotated ? blockLog2 : 0, rawPayloadLength: 0, storedPayloadLength: 0)
        guard
            let expectedRaw = rawPayloadLength(
                paddedCount: header.paddedCount, quantization: scheme.quantization, chunkSize: scheme.chunkSize),
            raw == UInt64(expectedRaw)
        else {
            throw UpdateCodecError(
                code: .payloadSizeMismatch, field: "rawPayloadLength",
                message: "raw payload length \(raw) does not match the parameter count and bit width", offset: 72)
        }
        guard expectedRaw <= limits.maxRawPayloadBytes else {
            throw UpdateCodecError(
                code: .payloadSizeMismatch, field: "rawPayloadLength",
                message: "raw payload of \(expectedRaw) bytes exceeds the limit of \(limits.maxRawPayloadBytes)",
                offset: 72)
        }
        let storedLimit = level == 0 ? UInt64(expectedRaw) : UInt64(Self.deflateBound(expectedRaw))
        guard level == 0 ? stored == storedLimit : stored <= storedLimit else {
            throw UpdateCodecError(
                code: .payloadSizeMismatch, field: "storedPayloadLength",
                message: "stored payload length \(stored) is impossible for a raw payload of \(expectedRaw) bytes",
                offset: 80)
        }
        header.rawPayloadLength = expectedRaw
        header.storedPayloadLength = Int(stored)
        let total = header.messageLength
        guard message.count >= total else {
            throw UpdateCodecError(
                code: .truncated, field: "payload", message: "message has \(message.count) of \(total) bytes",
                offset: message.count)
        }
        guard message.count == total else {
            throw UpdateCodecError(
                code: .trailingBytes, field: "checksum", message: "\(message.count - total) bytes after the checksum",
                offset: total)
        }
        let crcOffset = total - 4
        let declared = ByteReader(message).integer(UInt32.self, at: crcOffset)
        let actual = CRC32.checksum(UnsafeRawBufferPointer(rebasing: message[0..<crcOffset]))
        guard declared == actual else {
            throw UpdateCodecError(
                code: .checksumMismatch, field: "checksum", message: "CRC-32 mismatch", offset: crcOffset)
        }
        return header
    }

    /// An upper bound on a zlib stream's size for `rawLength` input bytes (zlib's `compressBound`).
    static func deflateBound(_ rawLength: Int) -> Int {
        Int(compressBound(uLong(rawLength)))
    }
}
