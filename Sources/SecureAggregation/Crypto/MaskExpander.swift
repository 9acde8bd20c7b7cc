public import Crypto
internal import Dispatch
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
        accumulator.withUnsafeMutableBufferPointer { acc in
            apply(seed: seed, negated: negated, to: acc, words: 0..<count, zeros: zeros)
        }
    }

    /// Adds every mask of `masks` (a seed each, subtracted when `negated`) to `accumulator`,
    /// on up to `threads` threads: each thread takes a contiguous run of whole chunks and adds
    /// every mask's keystream over it (the keystream is seekable, so a run starts at its own
    /// counter block). Addition modulo 2^32 commutes, so the result is the same bits as
    /// adding the masks one after another on one thread.
    ///
    /// - Complexity: O(masks × count) AES-CTR work, spread over the threads.
    public static func applyAll(
        _ masks: [(seed: SymmetricKey, negated: Bool)], to accumulator: inout [UInt32], threads: Int
    ) {
        precondition(masks.allSatisfy { $0.seed.bitCount == 256 }, "mask seeds are 256-bit AES keys")
        let count = accumulator.count
        guard count > 0, !masks.isEmpty else { return }
        let chunks = (count + chunkWords - 1) / chunkWords
        let parts = max(1, min(threads, chunks))
        let zeros = [UInt8](repeating: 0, count: min(count, chunkWords) * 4)
        // The seeds cross to the worker threads as bytes (a SymmetricKey is not Sendable).
        let seeds = masks.map { (bytes: $0.seed.withUnsafeBytes { Array($0) }, negated: $0.negated) }
        accumulator.withUnsafeMutableBufferPointer { acc in
            nonisolated(unsafe) let base = acc
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                // Part p holds chunks [p·chunks/parts, (p+1)·chunks/parts): disjoint word ranges.
                let first = part * chunks / parts * chunkWords
                let end = min(count, (part + 1) * chunks / parts * chunkWords)
                guard first < end else { return }
                for mask in seeds {
                    apply(
                        seed: SymmetricKey(data: mask.bytes), negated: mask.negated, to: base, words: first..<end,
                        zeros: zeros)
                }
            }
        }
    }

    /// Adds (or subtracts) the mask of `seed` over `words` of `acc`; `words` starts at a
    /// multiple of ``chunkWords`` (a counter-block boundary).
    private static func apply(
        seed: SymmetricKey, negated: Bool, to acc: UnsafeMutableBufferPointer<UInt32>, words range: Range<Int>,
        zeros: [UInt8]
    ) {
        var start = range.lowerBound
        while start < range.upperBound {
            let words = min(chunkWords, range.upperBound - start)
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
