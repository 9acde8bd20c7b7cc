import FederatedCore
public import UpdateCodec

/// Secure aggregation of a run's neural updates (`kbd-sim run --secure-aggregation`): the
/// phones quantize their clipped updates on a grid the cohort shares and run the four SecAgg+
/// stages, and the server learns only the integer sum (docs/secure-aggregation.md).
///
/// Stored with the run under the key `secureAggregation` (absent: off), so runs stored before
/// it existed still decode.
public struct SecureAggregationSettings: Codable, Sendable, Equatable {
    /// How the cohort's quantized updates are summed.
    public enum Summation: String, Codable, Sendable, Equatable {
        /// SecAgg+: masked inputs, the server sees only the sum.
        case masked
        /// The same quantized updates on the same grid, summed in the clear by the server: the
        /// comparison a masked run must equal bit for bit (tests, benchmarks). No privacy.
        case plain
    }

    /// Masked (the product) or plain (the comparison).
    public var summation: Summation = .masked
    /// The probability that a phone still in the round drops out in each gap between two
    /// stages (after advertising keys, after sharing keys, after sending its masked input),
    /// drawn per phone, round and gap from the run's seed: in [0, 1).
    public var stageDropout: Double = 0.05
    /// γ, the fraction of phones assumed to collude with the server, which k and t are chosen
    /// for (``SecureAggregationParameters``): in [0, 1).
    public var corruptFraction: Double = 0.05
    /// δ, the dropout the round's k and t are designed to survive: in [0, 1).
    public var designDropout: Double = 0.2
    /// Virtual seconds from one protocol stage to the next (the stages start when the round's
    /// reporting closes). A phone that stops being eligible in a gap (unplugged, off Wi-Fi,
    /// picked up) drops out there, on top of ``stageDropout``: 1…3600.
    public var stageSeconds: Int = 60

    /// Settings with the defaults (masked, 5% dropout per gap, γ = 5%, δ = 20%).
    public init(
        summation: Summation = .masked, stageDropout: Double = 0.05, corruptFraction: Double = 0.05,
        designDropout: Double = 0.2, stageSeconds: Int = 60
    ) {
        self.summation = summation
        self.stageDropout = stageDropout
        self.corruptFraction = corruptFraction
        self.designDropout = designDropout
        self.stageSeconds = stageSeconds
    }

    enum CodingKeys: String, CodingKey {
        case summation, stageDropout, corruptFraction, designDropout, stageSeconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        summation = try c.decodeIfPresent(Summation.self, forKey: .summation) ?? .masked
        stageDropout = try c.decodeIfPresent(Double.self, forKey: .stageDropout) ?? 0.05
        corruptFraction = try c.decodeIfPresent(Double.self, forKey: .corruptFraction) ?? 0.05
        designDropout = try c.decodeIfPresent(Double.self, forKey: .designDropout) ?? 0.2
        stageSeconds = try c.decodeIfPresent(Int.self, forKey: .stageSeconds) ?? 60
    }
}

/// The quantization grid every phone of a secure-aggregation round uses, sent with the
/// round's plan: `bits`-bit codes 0…2^b − 1 evenly spaced over [−range, range].
///
/// The range is the codec's L2 clip C: a phone first scales its delta to L2 norm ≤ C, so every
/// coordinate lies in [−C, C] and no value is clamped. Rounding is the codec's: stochastic
/// (`q8s`, unbiased, what production does) with the phone's own seeded dither, or nearest.
public struct SecureAggregationGrid: Codable, Sendable, Equatable {
    /// b, 1…8 (the codec's uniform bits).
    public var bits: Int
    /// C: the grid spans [−C, C].
    public var range: Float
    /// Stochastic (true) or nearest rounding.
    public var stochastic: Bool

    /// A grid of `bits`-bit codes over [−range, range].
    public init(bits: Int, range: Float, stochastic: Bool) {
        self.bits = bits
        self.range = range
        self.stochastic = stochastic
    }

    /// The quantizer for this grid.
    public var quantizer: SharedGridQuantizer {
        SharedGridQuantizer(bits: bits, range: range, stochastic: stochastic)
    }
}

extension RunConfiguration {
    /// The aggregation chain of a run under secure aggregation: each phone counts once
    /// (uniform weights, so no per-phone weight needs to cross in the clear), and the server
    /// optimizer steps on the average of the unmasked sum.
    public static let secureAggregationStages = ["decode", "weight:uniform", "sum", "server-optimizer"]

    /// The grid of a secure-aggregation run (from its codec: the clip and the uniform bits),
    /// or nil when the run does not aggregate securely or its codec has no clip or float values.
    public var secureAggregationGrid: SecureAggregationGrid? {
        guard secureAggregation != nil, let clip = codec.value.clipNorm,
            case .uniform(let bits, let rounding) = codec.value.quantization
        else { return nil }
        return SecureAggregationGrid(bits: bits, range: clip, stochastic: rounding == .stochastic)
    }
}
