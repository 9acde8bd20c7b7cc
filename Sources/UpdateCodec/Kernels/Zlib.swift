internal import CZlib

/// Thin wrappers over the system zlib: one-shot deflate and bounded streaming inflate.
enum Zlib {
    static func strategy(_ s: CodecScheme.ZlibStrategy) -> Int32 {
        switch s {
        case .standard: Z_DEFAULT_STRATEGY
        case .huffmanOnly: Z_HUFFMAN_ONLY
        case .runLength: Z_RLE
        }
    }

    /// Deflates `input` into `out` (capacity at least `compressBound(input.count)`); returns bytes written.
    static func deflate(
        _ input: UnsafeRawBufferPointer, level: Int, strategy: CodecScheme.ZlibStrategy,
        into out: UnsafeMutableRawPointer, capacity: Int
    ) throws(UpdateCodecError) -> Int {
        var stream = z_stream()
        var rc = deflateInit2_(
            &stream, Int32(level), Z_DEFLATED, 15, 8, Self.strategy(strategy), ZLIB_VERSION,
            Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw failure("deflateInit2", rc) }
        defer { deflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        stream.next_out = out.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(capacity)
        rc = CZlib.deflate(&stream, Z_FINISH)
        guard rc == Z_STREAM_END else { throw failure("deflate", rc) }
        return capacity - Int(stream.avail_out)
    }

    /// Inflates `input` through the fixed `staging` buffer, handing what it holds to `consume`.
    ///
    /// `consume` returns how many leading bytes it used; the rest is kept for the next call.
    /// Never produces more than `rawLength` bytes: a stream that inflates further is rejected
    /// as soon as it passes the limit, so a zip bomb costs at most one staging buffer of work.
    static func inflate(
        _ input: UnsafeRawBufferPointer, rawLength: Int, staging: UnsafeMutableRawBufferPointer,
        consume: (UnsafeRawBufferPointer) throws(UpdateCodecError) -> Int
    ) throws(UpdateCodecError) {
        var stream = z_stream()
        var rc = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw failure("inflateInit", rc) }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        let base = staging.baseAddress!
        var filled = 0
        var total = 0
        while true {
            let space = staging.count - filled
            stream.next_out = (base + filled).assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(space)
            rc = CZlib.inflate(&stream, Z_NO_FLUSH)
            let produced = space - Int(stream.avail_out)
            filled += produced
            total += produced
            switch rc {
            case Z_OK, Z_STREAM_END, Z_BUF_ERROR: break
            case Z_MEM_ERROR: throw failure("inflate", rc)
            default:
                throw UpdateCodecError(
                    code: .corruptPayload, field: "payload", message: "zlib stream is corrupt (zlib code \(rc))",
                    offset: UpdateHeader.size + input.count - Int(stream.avail_in))
            }
            guard total <= rawLength else {
                throw UpdateCodecError(
                    code: .payloadSizeMismatch, field: "payload",
                    message: "payload inflates beyond its declared \(rawLength) bytes")
            }
            let used = try consume(UnsafeRawBufferPointer(start: base, count: filled))
            if used > 0 && used < filled { (base).copyMemory(from: base + used, byteCount: filled - used) }
            filled -= used
            if rc == Z_STREAM_END { break }
            if produced == 0 && (stream.avail_in == 0 || rc == Z_BUF_ERROR) {
                throw UpdateCodecError(
                    code: .corruptPayload, field: "payload", message: "zlib stream ends before its end marker",
                    offset: UpdateHeader.size + input.count)
            }
        }
        guard stream.avail_in == 0 else {
            throw UpdateCodecError(
                code: .corruptPayload, field: "payload",
                message: "\(stream.avail_in) bytes after the end of the zlib stream",
                offset: UpdateHeader.size + input.count - Int(stream.avail_in))
        }
        guard total == rawLength, filled == 0 else {
            throw UpdateCodecError(
                code: .payloadSizeMismatch, field: "payload",
                message: "payload inflates to \(total) bytes, header declares \(rawLength)")
        }
    }

    private static func failure(_ call: String, _ rc: Int32) -> UpdateCodecError {
        UpdateCodecError(code: .zlibFailure, field: "zlib", message: "\(call) failed with zlib code \(rc)")
    }
}
