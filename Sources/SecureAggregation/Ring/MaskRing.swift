/// The ring Z_2^m in which phones mask their quantized inputs, and its packed wire form.
///
/// Inputs are b-bit unsigned integers (the codec's quantized values, b in 1…16). The sum of K
/// of them is at most K(2^b − 1) < 2^(b + ⌈log2 K⌉), so with m = b + ⌈log2 K⌉ + margin the
/// cohort's sum cannot wrap and the unmasked sum modulo 2^m *is* the integer sum. The margin
/// (default 0) is room for what the bound does not cover, such as distributed noise.
///
/// Arithmetic runs on `UInt32` words with wrapping `&+`/`&-` (modulo 2^32); because 2^m
/// divides 2^32, reducing at the end (``reduce(_:)``) gives the result modulo 2^m. On the wire
/// each coordinate takes exactly m bits (``pack(_:)``), so a masked upload is m/b times the
/// plain b-bit one: at b = 16 and K = 1,000, m = 26 (1.63×); at b = 8, m = 18 (2.25×).
/// m is at most 32: b = 16 allows K ≤ 65,536 phones, b = 8 allows K ≤ 2^24.
///
/// A ring made with ``init(ringBits:)`` instead takes inputs that are arbitrary elements of
/// Z_2^m (``ringElementInputs``): signed integers in two's complement modulo 2^m, such as a
/// phone's rounded update plus its share of distributed Skellam noise, whose width the
/// caller has bounded (`SkellamRingDesign` in FederatedCore).
public struct MaskRing: Sendable, Hashable {
    /// Bits per input coordinate: 1…16 for codes, m for ring elements.
    public let inputBits: Int
    /// Bits per masked coordinate: the ring is Z_2^m.
    public let bits: Int
    /// Whether an input is any element of Z_2^m (a value below 2^m) rather than a b-bit code.
    public let ringElementInputs: Bool

    /// The ring for `cohortSize` phones with `inputBits`-bit inputs.
    ///
    /// - Throws: ``SecureAggregationError/Code/ringTooSmall`` when b + ⌈log2 K⌉ + margin > 32.
    public init(inputBits: Int, cohortSize: Int, margin: Int = 0) throws(SecureAggregationError) {
        precondition((1...16).contains(inputBits), "input bits must be in 1…16 (got \(inputBits))")
        precondition(cohortSize >= 1 && margin >= 0, "cohort size must be ≥ 1 and margin ≥ 0")
        let m = inputBits + Self.ceilLog2(cohortSize) + margin
        guard m <= 32 else {
            throw SecureAggregationError(
                code: .ringTooSmall,
                message:
                    "\(inputBits)-bit inputs from \(cohortSize) phones with margin \(margin) need a \(m)-bit ring; at most 32 bits is implemented: use fewer input bits or a smaller cohort"
            )
        }
        self.inputBits = inputBits
        self.bits = m
        self.ringElementInputs = false
    }

    /// The ring Z_2^m whose inputs are arbitrary ring elements (values below 2^m), for inputs
    /// that are signed integers in two's complement: the caller chose m so that the cohort's
    /// signed sum stays in [−2^(m−1), 2^(m−1)) (with the probability its bound allows).
    ///
    /// - Throws: ``SecureAggregationError/Code/ringTooSmall`` when m is not in 2…32.
    public init(ringBits m: Int) throws(SecureAggregationError) {
        guard (2...32).contains(m) else {
            throw SecureAggregationError(
                code: .ringTooSmall,
                message:
                    "a ring of signed inputs needs 2 to 32 bits (got \(m)); at most 32 bits is implemented: use a smaller cohort, clip or scale"
            )
        }
        self.inputBits = m
        self.bits = m
        self.ringElementInputs = true
    }

    /// ⌈log2 n⌉ for n ≥ 1 (0 for n = 1).
    public static func ceilLog2(_ n: Int) -> Int {
        n <= 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount
    }

    /// 2^m − 1: a word ANDed with it is reduced modulo 2^m.
    public var modulusMask: UInt32 { bits == 32 ? .max : (UInt32(1) << UInt32(bits)) - 1 }

    /// Reduces every word modulo 2^m in place.
    public func reduce(_ words: inout [UInt32]) {
        let mask = modulusMask
        words.withUnsafeMutableBufferPointer { w in
            for i in w.indices { w[i] &= mask }
        }
    }

    /// Bytes of `count` coordinates packed at m bits each.
    public func packedByteCount(_ count: Int) -> Int { (count * bits + 7) / 8 }

    /// Bytes of `count` coordinates packed at the input's b bits each (the plain upload's payload).
    public func plainByteCount(_ count: Int) -> Int { (count * inputBits + 7) / 8 }

    /// The words' low m bits, little-endian bit order, packed back to back.
    ///
    /// - Complexity: O(count), one pass, no allocation but the result.
    public func pack(_ words: [UInt32]) -> [UInt8] {
        Self.pack(words, bits: bits)
    }

    /// Adds the packed m-bit coordinates in `packed` to `accumulator` (wrapping modulo 2^32).
    ///
    /// `packed` must hold ``packedByteCount(_:)`` of `accumulator.count` bytes (checked by the
    /// caller, who refuses a wrong length with a typed error).
    public func unpackAndAdd(_ packed: [UInt8], into accumulator: inout [UInt32]) {
        precondition(packed.count == packedByteCount(accumulator.count), "packed length mismatch")
        let m = bits
        let mask = UInt64(modulusMask)
        let count = accumulator.count
        packed.withUnsafeBytes { src in
            accumulator.withUnsafeMutableBufferPointer { acc in
                // Coordinate i starts at bit i·m: one unaligned 8-byte load at its byte holds all of
                // it (m ≤ 32, bit offset ≤ 7), with no carried state between coordinates. Loads that
                // would pass the end are done bytewise.
                let fast = src.count >= 8 ? min(count, ((src.count - 8) * 8) / m + 1) : 0
                var bit = 0
                for i in 0..<fast {
                    let word = UInt64(littleEndian: src.loadUnaligned(fromByteOffset: bit >> 3, as: UInt64.self))
                    acc[i] &+= UInt32(truncatingIfNeeded: (word >> UInt64(bit & 7)) & mask)
                    bit += m
                }
                for i in fast..<count {
                    var word: UInt64 = 0
                    let first = bit >> 3
                    for b in 0..<min(8, src.count - first) { word |= UInt64(src[first + b]) << UInt64(8 * b) }
                    acc[i] &+= UInt32(truncatingIfNeeded: (word >> UInt64(bit & 7)) & mask)
                    bit += m
                }
            }
        }
    }

    /// Packs the low `bits` bits of each word, little-endian bit order.
    public static func pack(_ words: [UInt32], bits: Int) -> [UInt8] {
        let m = UInt64(bits)
        let mask = (UInt64(1) << m) - 1
        let byteCount = (words.count * bits + 7) / 8
        return [UInt8](unsafeUninitializedCapacity: byteCount) { out, initialized in
            words.withUnsafeBufferPointer { src in
                var buffer: UInt64 = 0
                var filled: UInt64 = 0
                var o = 0
                for w in src {
                    buffer |= (UInt64(w) & mask) << filled
                    filled += m
                    while filled >= 8 {
                        out[o] = UInt8(truncatingIfNeeded: buffer)
                        o += 1
                        buffer >>= 8
                        filled -= 8
                    }
                }
                if filled > 0 {
                    out[o] = UInt8(truncatingIfNeeded: buffer)
                    o += 1
                }
                initialized = o
            }
        }
    }
}
