internal import FederatedCore

/// Writes the raw payload (before deflate) for already clipped and rotated values, one pass.
enum PayloadWriter {
    /// Writes `values` as `quantization` at `out`; returns the bytes written.
    ///
    /// Uniform quantization writes, per chunk, min and max as float32 then the codes packed
    /// LSB-first, padded to a whole byte at the end of the chunk.
    static func write(
        _ values: UnsafeBufferPointer<Float>, quantization: CodecScheme.Quantization, chunkSize: Int,
        dither: inout SplitMix64, to out: UnsafeMutableRawPointer
    ) throws(UpdateCodecError) -> Int {
        let n = values.count
        guard let src = values.baseAddress else { return 0 }
        switch quantization {
        case .float32:
            out.copyMemory(from: src, byteCount: n * 4)
            return n * 4
        case .float16:
            for i in 0..<n {
                let h = Float16(src[i])
                guard h.isFinite else {
                    throw UpdateCodecError(
                        code: .valueOutOfRange, field: "delta",
                        message: "value beyond the float16 range ±65504 after clipping/rotation", index: i)
                }
                out.storeBytes(of: h.bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
            return n * 2
        case .uniform(let bits, let rounding):
            var offset = 0
            var start = 0
            while start < n {
                let count = min(chunkSize, n - start)
                let written = try quantizeChunk(
                    src + start, count, bits: bits, stochastic: rounding == .stochastic, dither: &dither,
                    out: out + offset, index: start)
                offset += written
                start += count
            }
            return offset
        }
    }

    /// Quantizes and packs one chunk; returns `ChunkRecord.size(count:bits:)`.
    private static func quantizeChunk(
        _ v: UnsafePointer<Float>, _ n: Int, bits: Int, stochastic: Bool, dither: inout SplitMix64,
        out: UnsafeMutableRawPointer, index: Int
    ) throws(UpdateCodecError) -> Int {
        var (lo, hi) = minMax(v, n)
        let levels = Float((1 << bits) - 1)
        let range = hi - lo
        guard range.isFinite else {
            throw UpdateCodecError(
                code: .valueOutOfRange, field: "delta", message: "chunk range overflows float32", index: index)
        }
        var inv = levels / range
        if !(range > 0) || !inv.isFinite {
            // A constant (or denormal-wide) chunk: every code is 0 and decodes to `lo`.
            inv = 0
            hi = lo
        }
        out.storeBytes(of: lo.bitPattern.littleEndian, as: UInt32.self)
        out.storeBytes(of: hi.bitPattern.littleEndian, toByteOffset: 4, as: UInt32.self)
        let codes = (out + 8).assumingMemoryBound(to: UInt8.self)
        if bits == 8 {
            // Codes are the output bytes: quantize straight into them.
            quantizeCodes(v, n, lo: lo, inv: inv, levels: levels, stochastic: stochastic, dither: &dither, into: codes)
            return 8 + n
        }
        // Quantize into a small stack-like buffer of whole chunks, then pack.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { tmp in
            quantizeCodes(
                v, n, lo: lo, inv: inv, levels: levels, stochastic: stochastic, dither: &dither, into: tmp.baseAddress!)
            return 8 + pack(tmp.baseAddress!, n, bits: bits, into: out + 8)
        }
    }

    /// code = clamp(⌊(v − lo)·inv + u⌋, 0, levels) with u = ½ (nearest) or uniform in [0, 1).
    @inline(__always)
    private static func quantizeCodes(
        _ v: UnsafePointer<Float>, _ n: Int, lo: Float, inv: Float, levels: Float, stochastic: Bool,
        dither: inout SplitMix64, into codes: UnsafeMutablePointer<UInt8>
    ) {
        if !stochastic {
            for i in 0..<n {
                let y = min((v[i] - lo) * inv + 0.5, levels)
                codes[i] = UInt8(truncatingIfNeeded: Int32(y))
            }
            return
        }
        let unit: Float = 0x1.0p-24
        var i = 0
        while i + 1 < n {
            let r = dither.next()
            let u0 = Float(UInt32(truncatingIfNeeded: r) & 0xFF_FFFF) * unit
            let u1 = Float(UInt32(truncatingIfNeeded: r >> 32) & 0xFF_FFFF) * unit
            let y0 = min((v[i] - lo) * inv + u0, levels)
            let y1 = min((v[i + 1] - lo) * inv + u1, levels)
            codes[i] = UInt8(truncatingIfNeeded: Int32(y0))
            codes[i + 1] = UInt8(truncatingIfNeeded: Int32(y1))
            i += 2
        }
        if i < n {
            let u = Float(UInt32(truncatingIfNeeded: dither.next()) & 0xFF_FFFF) * unit
            codes[i] = UInt8(truncatingIfNeeded: Int32(min((v[i] - lo) * inv + u, levels)))
        }
    }

    /// Packs `n` codes of `bits` bits LSB-first; returns ⌈n·bits/8⌉.
    private static func pack(_ codes: UnsafePointer<UInt8>, _ n: Int, bits: Int, into out: UnsafeMutableRawPointer)
        -> Int
    {
        var acc: UInt64 = 0
        var filled = 0
        var o = 0
        for i in 0..<n {
            acc |= UInt64(codes[i]) << UInt64(filled)
            filled += bits
            if filled >= 32 {
                out.storeBytes(of: UInt32(truncatingIfNeeded: acc).littleEndian, toByteOffset: o, as: UInt32.self)
                o += 4
                acc >>= 32
                filled -= 32
            }
        }
        while filled > 0 {
            out.storeBytes(of: UInt8(truncatingIfNeeded: acc), toByteOffset: o, as: UInt8.self)
            o += 1
            acc >>= 8
            filled -= 8
        }
        return o
    }

    /// Minimum and maximum of `n` ≥ 1 finite values, 16 lanes at a time.
    private static func minMax(_ v: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var lo = v[0]
        var hi = v[0]
        var i = 0
        if n >= 16 {
            let raw = UnsafeRawPointer(v)
            var vlo = raw.loadUnaligned(as: SIMD16<Float>.self)
            var vhi = vlo
            i = 16
            while i + 16 <= n {
                let x = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                // Compare-and-blend lowers to vminps/vmaxps; pointwiseMin does not (NaN rules).
                vlo.replace(with: x, where: x .< vlo)
                vhi.replace(with: x, where: x .> vhi)
                i += 16
            }
            lo = vlo.min()
            hi = vhi.max()
        }
        while i < n {
            lo = min(lo, v[i])
            hi = max(hi, v[i])
            i += 1
        }
        return (lo, hi)
    }
}
