internal import FederatedCore

/// The randomized Hadamard rotation R = D·H·D / √B applied block by block (Suresh et al. 2017).
///
/// D is a diagonal of random ±1 signs (one SplitMix64 stream per seed, ⌈B/64⌉ words per block,
/// bit j of a word is the sign of element j) and H the B×B Walsh–Hadamard matrix. R is
/// symmetric and orthogonal, so it is its own inverse: the decoder applies the same call.
/// Blocks are independent, so a decoder can invert one block at a time in a B-element scratch.
struct HadamardRotation {
    /// Block length, a power of two ≥ 1.
    let block: Int
    private var signs: SplitMix64
    private var words: [UInt64]

    init(seed: UInt64, blockLog2: Int) {
        block = 1 << blockLog2
        signs = SplitMix64(seed: seed, streams: 0x524F_5441_5445)  // "ROTATE"
        words = Array(repeating: 0, count: (block + 63) / 64)
    }

    /// Rotates the next block in place; call once per block, in order. `values.count == block`.
    mutating func rotateNextBlock(_ values: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count == block)
        for w in words.indices { words[w] = signs.next() }
        let p = values.baseAddress!
        words.withUnsafeBufferPointer { w in
            Self.flipSigns(p, block, w, scale: 1)
            Self.walshHadamard(p, block)
            Self.flipSigns(p, block, w, scale: 1 / Float(block).squareRoot())
        }
    }

    /// `p[i] = ±p[i] · scale`, the sign from bit i of the sign words.
    private static func flipSigns(
        _ p: UnsafeMutablePointer<Float>, _ n: Int, _ w: UnsafeBufferPointer<UInt64>, scale: Float
    ) {
        var i = 0
        while i < n {
            let word = w[i >> 6]
            let end = min(n, i + 64)
            var j = 0
            while i < end {
                let flip = UInt32(truncatingIfNeeded: (word >> UInt64(j)) & 1) << 31
                p[i] = Float(bitPattern: (p[i] * scale).bitPattern ^ flip)
                i += 1
                j += 1
            }
        }
    }

    /// In-place unnormalised fast Walsh–Hadamard transform of length n (a power of two).
    private static func walshHadamard(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        var h = 1
        // Strides below 16 stay inside one 16-float group: do those four stages per group.
        if n >= 16 {
            let raw = UnsafeMutableRawPointer(p)
            var g = 0
            while g < n {
                var v = raw.loadUnaligned(fromByteOffset: g * 4, as: SIMD16<Float>.self)
                v = butterfly16(v)
                raw.storeBytes(of: v, toByteOffset: g * 4, as: SIMD16<Float>.self)
                g += 16
            }
            h = 16
            while h < n {
                var i = 0
                while i < n {
                    var j = i
                    while j < i + h {
                        let a = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self)
                        let b = raw.loadUnaligned(fromByteOffset: (j + h) * 4, as: SIMD16<Float>.self)
                        raw.storeBytes(of: a + b, toByteOffset: j * 4, as: SIMD16<Float>.self)
                        raw.storeBytes(of: a - b, toByteOffset: (j + h) * 4, as: SIMD16<Float>.self)
                        j += 16
                    }
                    i += 2 * h
                }
                h *= 2
            }
            return
        }
        while h < n {
            var i = 0
            while i < n {
                for j in i..<(i + h) {
                    let a = p[j]
                    let b = p[j + h]
                    p[j] = a + b
                    p[j + h] = a - b
                }
                i += 2 * h
            }
            h *= 2
        }
    }

    /// The 16-point Walsh–Hadamard transform of one vector (strides 1, 2, 4, 8).
    @inline(__always)
    private static func butterfly16(_ x: SIMD16<Float>) -> SIMD16<Float> {
        var v = x
        // Stride 1: pairs (0,1), (2,3), …
        var even = v.evenHalf
        var odd = v.oddHalf
        v = interleave(even + odd, even - odd)
        // Stride 2
        even = SIMD8(v[0], v[1], v[4], v[5], v[8], v[9], v[12], v[13])
        odd = SIMD8(v[2], v[3], v[6], v[7], v[10], v[11], v[14], v[15])
        var s = even + odd
        var d = even - odd
        v = SIMD16(s[0], s[1], d[0], d[1], s[2], s[3], d[2], d[3], s[4], s[5], d[4], d[5], s[6], s[7], d[6], d[7])
        // Stride 4
        even = SIMD8(v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11])
        odd = SIMD8(v[4], v[5], v[6], v[7], v[12], v[13], v[14], v[15])
        s = even + odd
        d = even - odd
        v = SIMD16(s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3], s[4], s[5], s[6], s[7], d[4], d[5], d[6], d[7])
        // Stride 8
        let lo = v.lowHalf
        let hi = v.highHalf
        return SIMD16(lowHalf: lo + hi, highHalf: lo - hi)
    }

    @inline(__always)
    private static func interleave(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD16<Float> {
        SIMD16(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
    }
}
