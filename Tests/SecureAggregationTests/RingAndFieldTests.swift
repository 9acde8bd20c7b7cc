import Crypto
import Foundation
import Testing

@testable import SecureAggregation

@Suite struct MaskRingTests {
    @Test("The ring has b + ⌈log2 K⌉ + margin bits")
    func ringWidth() throws {
        #expect(MaskRing.ceilLog2(1) == 0)
        #expect(MaskRing.ceilLog2(2) == 1)
        #expect(MaskRing.ceilLog2(1000) == 10)
        #expect(MaskRing.ceilLog2(1024) == 10)
        #expect(MaskRing.ceilLog2(1025) == 11)
        #expect(try MaskRing(inputBits: 16, cohortSize: 1000).bits == 26)
        #expect(try MaskRing(inputBits: 8, cohortSize: 1000).bits == 18)
        #expect(try MaskRing(inputBits: 8, cohortSize: 100, margin: 2).bits == 17)
        #expect(try MaskRing(inputBits: 16, cohortSize: 65536).bits == 32)
    }

    @Test("A ring wider than 32 bits is refused with a typed error")
    func ringTooSmall() {
        #expect(throws: SecureAggregationError.self) { try MaskRing(inputBits: 16, cohortSize: 65537) }
        do {
            _ = try MaskRing(inputBits: 16, cohortSize: 100_000)
        } catch {
            #expect(error.code == .ringTooSmall)
        }
    }

    @Test("Packing at m bits round-trips for every width and lengths 0…17")
    func packRoundTrip() {
        var rng = ShuffleGenerator(seed: 7)
        for bits in 1...32 {
            for count in 0...17 {
                let mask: UInt32 = bits == 32 ? .max : (1 << UInt32(bits)) - 1
                let words = (0..<count).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
                let packed = MaskRing.pack(words, bits: bits)
                #expect(packed.count == (count * bits + 7) / 8)
                let ring = RingStub(bits: bits)
                var sum = [UInt32](repeating: 1, count: count)
                ring.unpackAndAdd(packed, into: &sum)
                #expect(sum == words.map { ($0 & mask) &+ 1 })
            }
        }
    }

    @Test("The ring's own unpack-and-add inverts its packing for every b, several K, lengths 0…17 and 1,001")
    func ringUnpack() throws {
        var rng = ShuffleGenerator(seed: 8)
        for b in 1...16 {
            for k in [1, 2, 3, 100, 1000, 65536] where b + MaskRing.ceilLog2(k) <= 32 {
                let ring = try MaskRing(inputBits: b, cohortSize: k)
                for count in Array(0...17) + [1001] {
                    let words = (0..<count).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
                    var sum = [UInt32](repeating: 3, count: count)
                    ring.unpackAndAdd(ring.pack(words), into: &sum)
                    #expect(sum == words.map { ($0 & ring.modulusMask) &+ 3 }, "b \(b), K \(k), n \(count)")
                }
            }
        }
    }

    @Test("Wrapping sums reduced modulo 2^m equal the integer sum when it fits")
    func wrappingSum() throws {
        let ring = try MaskRing(inputBits: 8, cohortSize: 4)
        var acc: [UInt32] = [0, 0]
        for v in [[255, 1], [255, 2], [255, 3], [255, 4]] as [[UInt32]] {
            // Add a mask and later remove it: the sum is unchanged modulo 2^m.
            acc[0] &+= v[0] &+ 0xDEAD_BEEF
            acc[1] &+= v[1] &- 0x1234_5678
            acc[0] &-= 0xDEAD_BEEF
            acc[1] &+= 0x1234_5678
        }
        ring.reduce(&acc)
        #expect(acc == [1020, 10])
    }
}

/// Unpacks at an arbitrary width (MaskRing only builds from b and K).
struct RingStub {
    let bits: Int
    func unpackAndAdd(_ packed: [UInt8], into acc: inout [UInt32]) {
        var buffer: UInt64 = 0
        var filled = 0
        var byte = 0
        for i in acc.indices {
            while filled < bits {
                buffer |= UInt64(packed[byte]) << UInt64(filled)
                byte += 1
                filled += 8
            }
            acc[i] &+= UInt32(truncatingIfNeeded: buffer & ((1 << UInt64(bits)) - 1))
            buffer >>= UInt64(bits)
            filled -= bits
        }
    }
}

@Suite struct PrimeFieldTests {
    let p = FieldElement.modulus

    @Test("Arithmetic modulo 2^61 − 1 on hand-derived values")
    func handValues() {
        #expect(FieldElement(p).value == 0)
        #expect(FieldElement(p + 5).value == 5)
        #expect((FieldElement(p - 1) + FieldElement(1)).value == 0)
        #expect((FieldElement(3) - FieldElement(5)).value == p - 2)
        // 2^60 · 2 = 2^61 ≡ 1.
        #expect((FieldElement(1 << 60) * FieldElement(2)).value == 1)
        #expect(FieldElement(2).inverse.value == 1 << 60)
        // (p − 1)² = 1.
        #expect((FieldElement(p - 1) * FieldElement(p - 1)).value == 1)
        #expect((FieldElement(123_456_789) * FieldElement(987_654_321)).value == 121_932_631_112_635_269 % p)
    }

    @Test("Every inverse times its element is one")
    func inverses() {
        var rng = ShuffleGenerator(seed: 3)
        for _ in 0..<200 {
            let a = ShamirSharing.uniformElement(using: &rng)
            if a.value == 0 { continue }
            #expect((a * a.inverse).value == 1)
        }
    }
}

/// A generator that always returns one value (fixes the Shamir coefficients for hand checks).
struct ConstantGenerator: RandomNumberGenerator {
    var value: UInt64
    mutating func next() -> UInt64 { value }
}

@Suite struct ShamirSharingTests {
    @Test("Shares of a hand-made polynomial have the hand-derived values")
    func handDerived() throws {
        // Secret chunk 0 is 5, every other chunk 0; t = 2, every coefficient a1 = 3 (3 << 3 drawn).
        var secret = [UInt8](repeating: 0, count: 32)
        secret[0] = 5
        var rng = ConstantGenerator(value: 3 << 3)
        let shares = ShamirSharing.split(secret, threshold: 2, holders: [1, 2, 3], using: &rng)
        #expect(shares.map { $0.values[0].value } == [8, 11, 14])
        #expect(shares.map { $0.values[1].value } == [3, 6, 9])
        #expect(ShamirSharing.reconstruct([shares[0], shares[1]]) == secret)
        #expect(ShamirSharing.reconstruct([shares[2], shares[0]]) == secret)
        // Lagrange at 0 from x = 1, 2: 2·y1 − y2 = 16 − 11 = 5.
        #expect(
            ShamirSharing.lagrangeWeightsAtZero([FieldElement(1), FieldElement(2)]).map(\.value) == [
                2, FieldElement.modulus - 1,
            ])
    }

    @Test("Every t-subset of n = 6 shares rebuilds the secret, for t = 1…6")
    func bruteForce() {
        var rng = ShuffleGenerator(seed: 11)
        let secret = (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for t in 1...6 {
            let shares = ShamirSharing.split(secret, threshold: t, holders: [1, 2, 3, 4, 5, 6], using: &rng)
            for mask in 1..<(1 << 6) where mask.nonzeroBitCount >= t {
                let subset = shares.indices.filter { mask & (1 << $0) != 0 }.map { shares[$0] }
                #expect(ShamirSharing.reconstruct(subset) == secret, "t = \(t), subset \(mask)")
            }
        }
    }

    @Test("Any t − 1 shares are consistent with every secret, so they do not determine it")
    func thresholdMinusOne() {
        var rng = ShuffleGenerator(seed: 12)
        let secret = (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let other = (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let t = 3
        let shares = ShamirSharing.split(secret, threshold: t, holders: [1, 2, 3, 4, 5], using: &rng)
        for i in 0..<5 {
            for j in (i + 1)..<5 {
                let known = [shares[i], shares[j]]
                // The polynomial through (0, other) and the two known shares is a valid sharing of
                // `other` with the same two shares: its third share rebuilds `other`.
                let fake = ShamirShare(x: 0, values: ShamirSharing.chunks(of: other))
                let third = (1...5).first { x in !known.map(\.x).contains(UInt64(x)) }!
                let completing = ShamirShare(
                    x: UInt64(third), values: ShamirSharing.evaluate([fake] + known, at: UInt64(third)))
                #expect(ShamirSharing.reconstruct(known + [completing]) == other)
                // With the real third share the same two give the real secret.
                #expect(ShamirSharing.reconstruct(known + [shares[third - 1]]) == secret)
                // And the two alone rebuild neither.
                let alone = ShamirSharing.reconstruct(known)
                #expect(alone != secret && alone != other)
            }
        }
    }

    @Test("Shares with a repeated x or a wrong value count are refused")
    func malformed() {
        var rng = ShuffleGenerator(seed: 13)
        let secret = [UInt8](repeating: 9, count: 32)
        let shares = ShamirSharing.split(secret, threshold: 2, holders: [1, 2], using: &rng)
        #expect(ShamirSharing.reconstruct([shares[0], shares[0]]) == nil)
        #expect(ShamirSharing.reconstruct([ShamirShare(x: 1, values: [.one])]) == nil)
    }
}

@Suite struct GraphAndParameterTests {
    @Test(
        "The Harary graph is k-regular, symmetric and fixed by its seed",
        arguments: [(10, 4), (100, 48), (1000, 54), (7, 6)])
    func regular(cohort: Int, k: Int) {
        let g = NeighbourGraph(cohortSize: cohort, degree: k, seed: 42)
        for u in 0..<cohort {
            let n = g.neighbours(of: u)
            #expect(n.count == g.degree)
            #expect(!n.contains(u))
            // Symmetric: v lists u whenever u lists v (checked through the lists on small graphs).
            for v in n { #expect(g.areNeighbours(u, v) && g.areNeighbours(v, u)) }
            if cohort <= 100 { for v in n { #expect(g.neighbours(of: v).contains(u)) } }
            #expect((0..<cohort).filter { g.areNeighbours(u, $0) } == n)
        }
        #expect(g == NeighbourGraph(cohortSize: cohort, degree: k, seed: 42))
        #expect(g.degree == min(k, cohort - 1))
    }

    @Test("k and t meet the privacy and correctness bounds at the documented values")
    func parameters() {
        let small = SecureAggregationParameters(cohortSize: 100)
        #expect(small.neighbours == 48 && small.threshold == 21 && small.meetsTargets)
        let mid = SecureAggregationParameters(cohortSize: 500)
        #expect(mid.neighbours == 52 && mid.threshold == 22)
        let large = SecureAggregationParameters(cohortSize: 1000)
        #expect(large.neighbours == 54 && large.threshold == 23)
        let tiny = SecureAggregationParameters(cohortSize: 10)
        #expect(tiny.neighbours == 9 && tiny.threshold == 5 && !tiny.meetsTargets)
        let tail = SecureAggregationParameters.log2UpperTail(k: 54, p: 0.05, atLeast: 23)
        #expect(tail <= -40 - log2(1000.0))
    }
}

@Suite struct MaskExpanderTests {
    @Test("The mask is the AES-256-CTR keystream (known answer for the zero key)")
    func knownAnswer() {
        let mask = MaskExpander.mask(seed: SymmetricKey(data: [UInt8](repeating: 0, count: 32)), count: 4)
        // AES-256 of the zero block under the zero key: dc95c078 a2408989 ad48a214 92842087.
        #expect(mask == [0x78C0_95DC, 0x8989_40A2, 0x14A2_48AD, 0x8720_8492])
    }

    @Test("Chunks tile the keystream: a longer mask extends a shorter one")
    func chunking() {
        let seed = SymmetricKey(data: (0..<32).map { UInt8($0) })
        let long = MaskExpander.mask(seed: seed, count: MaskExpander.chunkWords * 2 + 5)
        let short = MaskExpander.mask(seed: seed, count: MaskExpander.chunkWords + 3)
        #expect(Array(long.prefix(short.count)) == short)
        var acc = long
        MaskExpander.apply(seed: seed, negated: true, to: &acc)
        #expect(acc.allSatisfy { $0 == 0 })
    }
}

@Suite struct MaskExpanderThreadsTests {
    @Test(
        "Adding many masks on several threads gives the bits of adding them one by one",
        arguments: [1, 5, MaskExpander.chunkWords, 3 * MaskExpander.chunkWords + 17])
    func threadedEqualsSequential(count: Int) {
        let masks = (0..<5).map { i in
            (seed: SymmetricKey(data: (0..<32).map { UInt8(truncatingIfNeeded: $0 * 7 + i * 31) }), negated: i % 2 == 1)
        }
        var start = [UInt32](repeating: 0, count: count)
        for i in start.indices { start[i] = UInt32(truncatingIfNeeded: i &* 2_654_435_761) }
        var sequential = start
        for m in masks { MaskExpander.apply(seed: m.seed, negated: m.negated, to: &sequential) }
        #expect(sequential != start)
        for threads in [1, 2, 3, 7] {
            var threaded = start
            MaskExpander.applyAll(masks, to: &threaded, threads: threads)
            #expect(threaded == sequential, "\(threads) threads")
        }
        var untouched = start
        MaskExpander.applyAll([], to: &untouched, threads: 2)
        #expect(untouched == start)
    }
}
