public import Crypto
internal import Foundation
import _CryptoExtras

/// The pseudorandom generator that turns a 32-byte seed into a mask over Z_2^m: the AES-256
/// keystream in counter mode (NIST SP 800-38A), from swift-crypto's `AES._CTR`.
///
/// The seed is the AES-256 key and the counter block starts at zero: every seed is fresh per
/// round (a self-mask seed is drawn anew, a pairwise seed is HKDF'd with the round), so one
/// (key, counter) pair never encrypts twice. Word `i` of the mask is the little-endian
/// `UInt32` at bytes `4i ..< 4i + 4` of the keystream; reduced modulo 2^m it is uniform in
/// Z_2^m because 2^m divides 2^32. The keystream is made in chunks of ``chunkWords`` words
/// into one reusable buffer and added in place, so a mask of any length allocates nothing per
/// element (and only one chunk buffer per call).
public enum MaskExpander {
    /// Words made per keystream call (64 KiB), small enough to stay in L2 while it is added.
    public static let chunkWords = 16_384

    /// Adds (`sign` = +1) or subtracts (`sign` = −1) the mask of `seed` to `accumulator`,
    /// wrapping modulo 2^32.
    ///
    /// - Parameters:
    ///   - seed: 32 bytes (an AES-256 key).
    ///   - negated: subtract instead of add.
    ///   - accumulator: the words the mask is added to; its count is the mask's length.
    /// - Complexity: O(count): one AES-CTR pass over 4 × count bytes and one add.
    public static func apply(seed: SymmetricKey, negated: Bool, to accumulator: inout [UInt32]) {
        precondition(seed.bitCount == 256, "mask seeds are 256-bit AES keys")
        let count = accumulator.count
        let zeros = [UInt8](repeating: 0, count: min(count, chunkWords) * 4)
        var start = 0
        accumulator.withUnsafeMutableBufferPointer { acc in
            while start < count {
                let words = min(chunkWords, count - start)
                let stream = keystream(seed: seed, firstBlock: UInt64(start / 4), zeros: zeros, words: words)
                stream.withUnsafeBytes { raw in
                    let base = acc.baseAddress! + start
                    if negated {
                        for i in 0..<words {
                            base[i] &-= UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                        }
                    } else {
                        for i in 0..<words {
                            base[i] &+= UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                        }
                    }
                }
                start += words
            }
        }
    }

    /// ``apply(seed:negated:to:)`` with the seed as 32 raw bytes.
    public static func apply(seedBytes: [UInt8], negated: Bool, to accumulator: inout [UInt32]) {
        precondition(seedBytes.count == 32, "mask seeds are 32 bytes")
        apply(seed: SymmetricKey(data: seedBytes), negated: negated, to: &accumulator)
    }

    /// The first `count` words of the mask of `seed` (a test and benchmark helper).
    public static func mask(seed: SymmetricKey, count: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: count)
        apply(seed: seed, negated: false, to: &out)
        return out
    }

    /// `words` words of keystream from 16-byte block `firstBlock` on (chunks start at multiples
    /// of ``chunkWords``, which is a multiple of 4 words, so chunks tile the stream exactly).
    private static func keystream(seed: SymmetricKey, firstBlock: UInt64, zeros: [UInt8], words: Int) -> Data {
        // The 128-bit counter block, big-endian: the high 64 bits stay zero.
        var block = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { block[15 - i] = UInt8(truncatingIfNeeded: firstBlock >> (8 * UInt64(i))) }
        do {
            let nonce = try AES._CTR.Nonce(nonceBytes: block)
            return try AES._CTR.encrypt(zeros[0..<(4 * words)], using: seed, nonce: nonce)
        } catch {
            // Only a wrong key size or nonce size throws, and both are fixed above.
            preconditionFailure("AES-CTR refused a 256-bit key and a 16-byte counter block: \(error)")
        }
    }
}
