import FederatedCore
import FederationProtocol

/// A phone's integer side of distributed DP under secure aggregation (the Skellam mechanism,
/// docs/privacy.md): what it computes before masking, and only from its own update, the
/// plan's public ``SkellamEncoding`` and the round's public setup.
enum DistributedSkellamPhone {
    /// Clips `delta` to L2 norm c, scales it by γ and rounds every coordinate stochastically
    /// to an integer (⌊y⌋ + 1 with probability y − ⌊y⌋, unbiased), written as little-endian
    /// two's complement `UInt32` words, 4 bytes a coordinate (the phone keeps them until the
    /// masked-input stage, where its noise is added).
    ///
    /// The clip is to c·(1 − 2⁻⁴⁰) in `Double`, so that ‖γx‖₂ ≤ γc holds despite rounding in
    /// the arithmetic: every coordinate lands in [−⌈γc⌉, ⌈γc⌉] and ‖v‖₂ < γc + √d, the bounds
    /// the ring and the accountant use.
    static func encode(
        _ delta: UnsafeBufferPointer<Float>, encoding: SkellamEncoding, dither rng: inout SplitMix64
    ) -> [UInt8] {
        var squared = 0.0
        for x in delta { squared += Double(x) * Double(x) }
        let norm = squared.squareRoot()
        let cap = encoding.clip * (1 - 0x1p-40)
        let factor = norm > cap ? cap / norm : 1
        let multiplier = encoding.scale * factor
        return [UInt8](unsafeUninitializedCapacity: 4 * delta.count) { out, initialized in
            for (i, x) in delta.enumerated() {
                let y = Double(x) * multiplier
                let low = y.rounded(.down)
                let v = Int64(low) + (rng.nextUnitDouble() < y - low ? 1 : 0)
                let word = UInt32(truncatingIfNeeded: v)
                out[4 * i] = UInt8(truncatingIfNeeded: word)
                out[4 * i + 1] = UInt8(truncatingIfNeeded: word >> 8)
                out[4 * i + 2] = UInt8(truncatingIfNeeded: word >> 16)
                out[4 * i + 3] = UInt8(truncatingIfNeeded: word >> 24)
            }
            initialized = 4 * delta.count
        }
    }

    /// The phone's input to the round: its rounded words plus one Sk(μ/t) draw per
    /// coordinate (μ/t = ``SecureAggregationSetup/phoneNoiseVariance``), reduced modulo 2^m.
    /// The noise is seeded per (run seed, round, device), so a masked run and its plain
    /// comparison add the same noise.
    static func noisyInput(
        _ encoded: [UInt8], setup: SecureAggregationSetup, device: Int, runSeed: UInt64
    ) -> [UInt32]? {
        guard let ringBits = setup.ringBits, let variance = setup.phoneNoiseVariance,
            encoded.count == 4 * setup.vectorLength
        else { return nil }
        var words = [UInt32](repeating: 0, count: setup.vectorLength)
        encoded.withUnsafeBytes { src in
            words.withUnsafeMutableBufferPointer { w in
                for i in w.indices {
                    w[i] = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                }
            }
        }
        var rng = SplitMix64(
            seed: SplitMix64.derivedSeed(runSeed, streams: 0x5EC_5C11, UInt64(setup.round), UInt64(device)))
        let mask: UInt32 = ringBits == 32 ? .max : (UInt32(1) << UInt32(ringBits)) - 1
        words.withUnsafeMutableBufferPointer { w in
            rng.addSkellamNoise(variance: variance, to: w)
            for i in w.indices { w[i] &= mask }
        }
        return words
    }
}
