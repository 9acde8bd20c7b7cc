internal import FederatedCore

/// Encodes model deltas into self-describing, checksummed messages (wire format version 1).
///
/// The pipeline is clip → rotate → quantize+pack (one pass) → deflate (one call); every step
/// is set by the ``scheme``. Encoding is deterministic: the same delta, metadata, scheme and
/// seed give the same bytes.
public struct UpdateEncoder: Sendable {
    /// What the encoder does to each delta.
    public var scheme: CodecScheme

    /// Creates an encoder for `scheme`.
    public init(scheme: CodecScheme) {
        self.scheme = scheme
    }

    /// Encodes `delta` with `metadata` into a message.
    ///
    /// - Parameters:
    ///   - delta: The model delta; every value must be finite. At most 2³² − 1 values.
    ///   - metadata: Written to the header unchanged.
    ///   - seed: Seeds the rotation signs (written to the header so the decoder can undo the
    ///     rotation) and the stochastic-rounding dither (not needed to decode). Derive it from
    ///     (run, round, device) so updates use independent rotations.
    /// - Returns: The message: 88-byte header, payload, CRC-32.
    /// - Throws: ``UpdateCodecError`` with code `nonFiniteInput` (NaN/±∞ in `delta`, with its
    ///   index), `valueOutOfRange` (float16 overflow, or a chunk range that overflows float32),
    ///   or `inputTooLarge` (more than 2³² − 1 values, or a raw payload above 2 GiB).
    /// - Complexity: O(n log B) for rotation with block B, O(n) otherwise; allocates one padded
    ///   copy of the delta when clipping or rotating, and one raw payload buffer when deflating.
    public func encode(_ delta: UnsafeBufferPointer<Float>, metadata: UpdateMetadata, seed: UInt64)
        throws(UpdateCodecError)
        -> [UInt8]
    {
        let n = delta.count
        guard n <= Int(UInt32.max) else {
            throw UpdateCodecError(code: .inputTooLarge, field: "delta", message: "\(n) parameters exceed 2^32 - 1")
        }
        let factor = try clipFactor(delta)
        let blockLog2 = scheme.rotate ? UpdateHeader.rotationBlockLog2(count: n, maxBlock: scheme.rotationBlock) : 0
        var header = UpdateHeader(
            metadata: metadata, scheme: scheme, parameterCount: n, seed: seed, rotationBlockLog2: blockLog2,
            rawPayloadLength: 0, storedPayloadLength: 0)
        let padded = header.paddedCount
        guard
            let raw = UpdateHeader.rawPayloadLength(
                paddedCount: padded, quantization: scheme.quantization, chunkSize: scheme.chunkSize),
            raw <= Int(UInt32.max) / 2  // zlib counts in UInt32; compressBound(raw) must fit too
        else {
            throw UpdateCodecError(code: .inputTooLarge, field: "delta", message: "payload would exceed 2 GiB")
        }
        header.rawPayloadLength = raw

        // Clipping and rotation work on one padded copy; otherwise quantize straight from `delta`.
        var work: UnsafeMutableBufferPointer<Float>? = nil
        defer { work?.deallocate() }
        if scheme.rotate || factor != 1 {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: padded)
            work = buffer
            for i in 0..<n { buffer[i] = delta[i] * factor }
            for i in n..<padded { buffer[i] = 0 }
            if scheme.rotate {
                var rotation = HadamardRotation(seed: seed, blockLog2: blockLog2)
                var start = 0
                while start < padded {
                    rotation.rotateNextBlock(
                        UnsafeMutableBufferPointer(rebasing: buffer[start..<(start + rotation.block)]))
                    start += rotation.block
                }
            }
        }
        let values = work.map { UnsafeBufferPointer($0) } ?? delta
        var dither = SplitMix64(seed: seed, streams: 0x4449_5448_4552)  // "DITHER"
        let scheme = self.scheme
        let capacity = scheme.zlibLevel == 0 ? raw : UpdateHeader.deflateBound(raw)
        var failure: UpdateCodecError? = nil
        let message = [UInt8](unsafeUninitializedCapacity: UpdateHeader.overhead + capacity) { bytes, count in
            let base = UnsafeMutableRawPointer(bytes.baseAddress!)
            do throws(UpdateCodecError) {
                if scheme.zlibLevel == 0 {
                    header.storedPayloadLength = try PayloadWriter.write(
                        values, quantization: scheme.quantization, chunkSize: scheme.chunkSize, dither: &dither,
                        to: base + UpdateHeader.size)
                } else {
                    let rawBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(raw, 1), alignment: 16)
                    defer { rawBuffer.deallocate() }
                    let written = try PayloadWriter.write(
                        values, quantization: scheme.quantization, chunkSize: scheme.chunkSize, dither: &dither,
                        to: rawBuffer.baseAddress!)
                    header.storedPayloadLength = try Zlib.deflate(
                        UnsafeRawBufferPointer(rebasing: rawBuffer[0..<written]), level: scheme.zlibLevel,
                        strategy: scheme.zlibStrategy, into: base + UpdateHeader.size, capacity: capacity)
                }
                header.write(to: base)
                let crcOffset = UpdateHeader.size + header.storedPayloadLength
                var tail = ByteWriter(base: base + crcOffset)
                tail.u32(CRC32.checksum(UnsafeRawBufferPointer(start: base, count: crcOffset)))
                count = crcOffset + 4
            } catch {
                failure = error
                count = 0
            }
        }
        if let failure { throw failure }
        return message
    }

    /// Encodes a delta held in any contiguous collection; see ``encode(_:metadata:seed:)-(UnsafeBufferPointer<Float>,_,_)``.
    public func encode(_ delta: some Collection<Float>, metadata: UpdateMetadata, seed: UInt64) throws(UpdateCodecError)
        -> [UInt8]
    {
        let result: Result<[UInt8], UpdateCodecError>? = delta.withContiguousStorageIfAvailable { buffer in
            Result { () throws(UpdateCodecError) in try encode(buffer, metadata: metadata, seed: seed) }
        }
        if let result { return try result.get() }
        return try ContiguousArray(delta).withUnsafeBufferPointer { buffer in
            Result { () throws(UpdateCodecError) in try encode(buffer, metadata: metadata, seed: seed) }
        }.get()
    }

    /// 1, or clipNorm / ‖delta‖₂ when the norm exceeds the bound; rejects non-finite input.
    private func clipFactor(_ delta: UnsafeBufferPointer<Float>) throws(UpdateCodecError) -> Float {
        // Squares accumulate in Double: no Float input can overflow them, so a non-finite sum
        // means a non-finite input.
        var s0 = 0.0
        var s1 = 0.0
        var s2 = 0.0
        var s3 = 0.0
        let n = delta.count
        var i = 0
        while i + 4 <= n {
            let a = Double(delta[i])
            let b = Double(delta[i + 1])
            let c = Double(delta[i + 2])
            let d = Double(delta[i + 3])
            s0 += a * a
            s1 += b * b
            s2 += c * c
            s3 += d * d
            i += 4
        }
        while i < n {
            s0 += Double(delta[i]) * Double(delta[i])
            i += 1
        }
        let squared = (s0 + s1) + (s2 + s3)
        guard squared.isFinite else {
            let bad = delta.firstIndex(where: { !$0.isFinite }) ?? 0
            throw UpdateCodecError(
                code: .nonFiniteInput, field: "delta", message: "delta contains NaN or infinity", index: bad)
        }
        guard let bound = scheme.clipNorm else { return 1 }
        let norm = squared.squareRoot()
        return norm > Double(bound) ? Float(Double(bound) / norm) : 1
    }
}

extension UpdateEncoder {
    /// The raw payload (clipped, rotated, quantized, packed; not deflated), for benchmarks that
    /// time zlib alone on the exact bytes the encoder deflates.
    package func rawPayload(_ delta: [Float], metadata: UpdateMetadata, seed: UInt64) throws(UpdateCodecError)
        -> [UInt8]
    {
        var uncompressed = self
        uncompressed.scheme.zlibLevel = 0
        let message = try uncompressed.encode(delta, metadata: metadata, seed: seed)
        return Array(message[UpdateHeader.size..<(message.count - 4)])
    }

    /// Deflates `raw` once with this encoder's level and strategy; returns the compressed size.
    package func deflateOnly(_ raw: [UInt8]) throws(UpdateCodecError) -> Int {
        let capacity = UpdateHeader.deflateBound(raw.count)
        let out = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { out.deallocate() }
        return try raw.withUnsafeBytes { bytes in
            Result { () throws(UpdateCodecError) in
                try Zlib.deflate(
                    bytes, level: scheme.zlibLevel, strategy: scheme.zlibStrategy, into: out, capacity: capacity)
            }
        }.get()
    }
}
