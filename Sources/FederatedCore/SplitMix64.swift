/// A small, fast, seedable random number generator (SplitMix64, Steele et al. 2014).
///
/// Every random draw in kbd-sim takes `inout some RandomNumberGenerator`, and every
/// stream is seeded from a user-visible `--seed` through this generator, so runs are
/// reproducible bit for bit.
///
/// Independent streams come from one of two derivations, which give different values for
/// the same parts; each user stays on its own, since moving one changes every model hash:
///
/// - ``init(seed:streams:)`` mixes each part in (the *mixed* family): the fleet (population,
///   each round's selection and fates), the codec (rotation signs, stochastic-rounding
///   dither), the LSTM (weight init, shuffles, dropout masks), the synthetic corpus, and
///   the CLI's own draws (`codec`, `fleet` commands).
/// - ``derivedSeed(_:streams:)`` chains generators (the *federation* family): the seeds the
///   fleet-side runner gives each device in a round, tagged `0x5A3B1E` (the round's message
///   sample), `0x10CA1` (local training) and `0xC0DEC` (the update's codec seed). New
///   per-(seed, round, device) streams of a federated run use it too.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    /// Creates a generator whose whole output is determined by `seed`.
    @inlinable
    public init(seed: UInt64) {
        state = seed
    }

    /// Creates a generator for one stream of a family, e.g. `(seed, device, round)`.
    ///
    /// Each part passes through the SplitMix finalizer before the next is mixed in, so
    /// nearby tuples such as `(1, 2)` and `(2, 1)` give unrelated streams.
    @inlinable
    public init(seed: UInt64, streams parts: UInt64...) {
        var s = SplitMix64.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        for part in parts {
            s = SplitMix64.mix(s ^ (part &* 0xBF58_476D_1CE4_E5B9 &+ 0x94D0_49BB_1331_11EB))
        }
        state = s
    }

    /// The seed of one stream of the federation family: `(seed, tag, round, device)`.
    ///
    /// Each part reseeds a generator from the previous one's next output xor the part's
    /// mix. The values are pinned by the model-hash tests: do not change them.
    @inlinable
    package static func derivedSeed(_ seed: UInt64, streams parts: UInt64...) -> UInt64 {
        var rng = SplitMix64(seed: seed)
        for part in parts { rng = SplitMix64(seed: rng.next() ^ SplitMix64.mix(part)) }
        return rng.next()
    }

    /// The SplitMix64 output function: a bijective 64-bit mixer.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Returns the next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// A uniform `Double` in `[0, 1)` with 53 random bits.
    @inlinable
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform `Float` in `[0, 1)` with 24 random bits.
    @inlinable
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1.0p-24
    }
}
