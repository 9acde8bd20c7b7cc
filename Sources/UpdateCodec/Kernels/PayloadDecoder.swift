/// Turns raw payload bytes into values, one fixed window at a time, validating as it goes.
///
/// Values land in `window` (a rotation block when rotated, 16 384 floats otherwise); each full
/// window is inverse-rotated and handed to `deliver` with its parameter offset, padding cut
/// off. With `checkOnly` it validates scales and values without producing anything.
struct PayloadDecoder {
    /// Window length for unrotated payloads, in elements (64 KiB of Float).
    static let plainWindow = 1 << 14
    /// Staging bytes for inflate output: two of the largest chunk records.
    static let stagingBytes = 2 * ChunkRecord.size(count: CodecScheme.maxChunkSize, bits: 8)

    private let quantization: CodecScheme.Quantization
    private let chunkSize: Int
    private let paddedCount: Int
    private let parameterCount: Int
    private let maxMagnitude: Float
    private let checkOnly: Bool
    private let window: UnsafeMutableBufferPointer<Float>
    private var rotation: HadamardRotation?
    private var windowStart = 0
    private var windowFill = 0
    private var element = 0
    private var chunk = 0
    private var consumed = 0

    /// The window length a header needs.
    static func windowLength(for header: UpdateHeader) -> Int {
        header.scheme.rotate ? 1 << header.rotationBlockLog2 : plainWindow
    }

    init(header: UpdateHeader, limits: DecodeLimits, checkOnly: Bool, window: UnsafeMutableBufferPointer<Float>) {
        precondition(window.count == Self.windowLength(for: header))
        quantization = header.scheme.quantization
        chunkSize = header.scheme.chunkSize
        paddedCount = header.paddedCount
        parameterCount = header.parameterCount
        maxMagnitude = limits.maxMagnitude
        self.checkOnly = checkOnly
        self.window = window
        if header.scheme.rotate && !checkOnly {
            rotation = HadamardRotation(seed: header.seed, blockLog2: header.rotationBlockLog2)
        }
    }

    /// Decodes the whole payload of a validated message, inflating through `staging` if needed.
    static func run(
        header: UpdateHeader, message: UnsafeRawBufferPointer, limits: DecodeLimits, checkOnly: Bool,
        window: UnsafeMutableBufferPointer<Float>, staging: UnsafeMutableRawBufferPointer,
        deliver: (Int, UnsafeBufferPointer<Float>) -> Void
    ) throws(UpdateCodecError) {
        var decoder = PayloadDecoder(header: header, limits: limits, checkOnly: checkOnly, window: window)
        let payload = UnsafeRawBufferPointer(
            rebasing: message[UpdateHeader.size..<(UpdateHeader.size + header.storedPayloadLength)])
        if header.scheme.zlibLevel == 0 {
            let used = try decoder.consume(payload, deliver: deliver)
            guard used == payload.count else {
                throw UpdateCodecError(
                    code: .payloadSizeMismatch, field: "payload", message: "payload has unparsed bytes")
            }
        } else {
            try Zlib.inflate(payload, rawLength: header.rawPayloadLength, staging: staging) {
                bytes throws(UpdateCodecError) in
                try decoder.consume(bytes, deliver: deliver)
            }
        }
        try decoder.finish(deliver: deliver)
    }

    /// Consumes the whole units (values or chunk records) at the front of `bytes`; returns bytes used.
    mutating func consume(
        _ bytes: UnsafeRawBufferPointer, deliver: (Int, UnsafeBufferPointer<Float>) -> Void
    ) throws(UpdateCodecError) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var pos = 0
        switch quantization {
        case .float32, .float16:
            let size = quantization == .float32 ? 4 : 2
            while element < paddedCount {
                let take = min((bytes.count - pos) / size, paddedCount - element, window.count - windowFill)
                if take == 0 { break }
                let out = window.baseAddress! + windowFill
                for i in 0..<take {
                    let v: Float
                    if size == 4 {
                        v = Float(
                            bitPattern: UInt32(
                                littleEndian: base.loadUnaligned(fromByteOffset: pos + 4 * i, as: UInt32.self)))
                    } else {
                        v = Float(
                            Float16(
                                bitPattern: UInt16(
                                    littleEndian: base.loadUnaligned(fromByteOffset: pos + 2 * i, as: UInt16.self))))
                    }
                    guard abs(v) <= maxMagnitude else {
                        throw UpdateCodecError(
                            code: .nonFiniteValue, field: "payload.value",
                            message: "value is NaN, infinite or above the magnitude limit", index: element + i)
                    }
                    out[i] = v
                }
                pos += take * size
                element += take
                windowFill += take
                if windowFill == window.count { flush(deliver) }
            }
        case .uniform(let bits, _):
            let levels = Float((1 << bits) - 1)
            while element < paddedCount {
                let count = min(chunkSize, paddedCount - element)
                let size = ChunkRecord.size(count: count, bits: bits)
                if bytes.count - pos < size { break }
                let lo = Float(
                    bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: pos, as: UInt32.self)))
                let hi = Float(
                    bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: pos + 4, as: UInt32.self)))
                guard abs(lo) <= maxMagnitude, abs(hi) <= maxMagnitude, hi >= lo else {
                    throw UpdateCodecError(
                        code: .nonFiniteScale, field: abs(lo) <= maxMagnitude ? "scale.max" : "scale.min",
                        message: "chunk scale is NaN, infinite, above the magnitude limit, or max < min", index: chunk)
                }
                if !checkOnly {
                    let step = (hi - lo) / levels
                    var done = 0
                    while done < count {
                        let take = min(count - done, window.count - windowFill)
                        Self.dequantize(
                            codes: base + pos + 8, bits: bits, from: done, count: take, lo: lo, step: step,
                            into: window.baseAddress! + windowFill)
                        done += take
                        windowFill += take
                        if windowFill == window.count { flush(deliver) }
                    }
                }
                element += count
                chunk += 1
                pos += size
            }
        }
        consumed += pos
        return pos
    }

    /// Checks that every element arrived and delivers the last partial window.
    mutating func finish(deliver: (Int, UnsafeBufferPointer<Float>) -> Void) throws(UpdateCodecError) {
        guard element == paddedCount else {
            throw UpdateCodecError(
                code: .payloadSizeMismatch, field: "payload",
                message: "payload holds \(element) of \(paddedCount) values")
        }
        if windowFill > 0 { flush(deliver) }
    }

    private mutating func flush(_ deliver: (Int, UnsafeBufferPointer<Float>) -> Void) {
        defer {
            windowStart += windowFill
            windowFill = 0
        }
        guard !checkOnly else { return }
        if rotation != nil {
            rotation!.rotateNextBlock(UnsafeMutableBufferPointer(rebasing: window[0..<windowFill]))
        }
        let real = min(windowFill, parameterCount - windowStart)
        if real > 0 { deliver(windowStart, UnsafeBufferPointer(rebasing: window[0..<real])) }
    }

    /// out[k] = lo + code(first + k)·step for k in 0..<count, codes packed LSB-first.
    @inline(__always)
    static func dequantize(
        codes: UnsafeRawPointer, bits: Int, from first: Int, count: Int, lo: Float, step: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        let c = codes.assumingMemoryBound(to: UInt8.self)
        if bits == 8 {
            for k in 0..<count { out[k] = lo + Float(c[first + k]) * step }
            return
        }
        let mask = UInt16((1 << bits) - 1)
        for k in 0..<count {
            let bit = (first + k) * bits
            let byte = bit >> 3
            let shift = bit & 7
            var word = UInt16(c[byte])
            // Read the next byte only when the code straddles it, so the last code never reads past the record.
            if shift + bits > 8 { word |= UInt16(c[byte + 1]) << 8 }
            out[k] = lo + Float((word >> UInt16(shift)) & mask) * step
        }
    }
}
