public import FederatedCore
import LanguageModelTypes
import SecureAggregation
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
    /// With distributed DP (``PrivacyConfiguration/Mechanism/skellam``): the widest ring m the
    /// scale γ is fitted to, 2…32; nil: 32 (``SkellamRingDesign/maximumRingBits``).
    public var ringBits: Int?

    /// Settings with the defaults (masked, 5% dropout per gap, γ = 5%, δ = 20%).
    public init(
        summation: Summation = .masked, stageDropout: Double = 0.05, corruptFraction: Double = 0.05,
        designDropout: Double = 0.2, stageSeconds: Int = 60, ringBits: Int? = nil
    ) {
        self.summation = summation
        self.stageDropout = stageDropout
        self.corruptFraction = corruptFraction
        self.designDropout = designDropout
        self.stageSeconds = stageSeconds
        self.ringBits = ringBits
    }

    enum CodingKeys: String, CodingKey {
        case summation, stageDropout, corruptFraction, designDropout, stageSeconds, ringBits
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        summation = try c.decodeIfPresent(Summation.self, forKey: .summation) ?? .masked
        stageDropout = try c.decodeIfPresent(Double.self, forKey: .stageDropout) ?? 0.05
        corruptFraction = try c.decodeIfPresent(Double.self, forKey: .corruptFraction) ?? 0.05
        designDropout = try c.decodeIfPresent(Double.self, forKey: .designDropout) ?? 0.2
        stageSeconds = try c.decodeIfPresent(Int.self, forKey: .stageSeconds) ?? 60
        ringBits = try c.decodeIfPresent(Int.self, forKey: .ringBits)
    }
}

/// The integer encoding of distributed DP under secure aggregation (the Skellam mechanism,
/// docs/privacy.md): what every phone of the run is told with its plan. A phone clips its
/// update to ``clip``, scales it by ``scale`` (γ), rounds it stochastically to integers and,
/// once the round's threshold t is known, adds Sk(μ/t) noise to every coordinate before
/// masking; the signed integers cross the ring Z_2^m in two's complement.
public struct SkellamEncoding: Codable, Sendable, Equatable {
    /// c, the L2 clip (the run's --dp-clip).
    public var clip: Double
    /// γ, fitted so that the design cohort's rounds fit in the ring.
    public var scale: Double
    /// z, the run's --dp-noise: μ = z²Δ₂².
    public var noiseMultiplier: Double
    /// d, the model's parameter count.
    public var dimension: Int
    /// The cohort K and threshold t γ was fitted for, and the ring width m it was fitted to.
    public var designCohort: Int
    public var designThreshold: Int
    public var designRingBits: Int

    public init(
        clip: Double, scale: Double, noiseMultiplier: Double, dimension: Int, designCohort: Int,
        designThreshold: Int, designRingBits: Int
    ) {
        self.clip = clip
        self.scale = scale
        self.noiseMultiplier = noiseMultiplier
        self.dimension = dimension
        self.designCohort = designCohort
        self.designThreshold = designThreshold
        self.designRingBits = designRingBits
    }

    /// The ring design (sensitivities, noise, ring bound) at this γ.
    public var design: SkellamRingDesign {
        SkellamRingDesign(clip: clip, noiseMultiplier: noiseMultiplier, dimension: dimension, scale: scale)
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
    /// Distributed DP: the phones send γ-scaled, rounded, Skellam-noised signed integers
    /// instead of codes (``bits`` is then the widest ring, 32, and ``range`` the clip).
    public var skellam: SkellamEncoding?

    /// A grid of `bits`-bit codes over [−range, range].
    public init(bits: Int, range: Float, stochastic: Bool, skellam: SkellamEncoding? = nil) {
        self.bits = bits
        self.range = range
        self.stochastic = stochastic
        self.skellam = skellam
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
        if secureAggregation != nil, privacy?.mechanism == .skellam {
            guard let encoding = skellamEncoding else { return nil }
            return SecureAggregationGrid(
                bits: SkellamRingDesign.maximumRingBits, range: Float(encoding.clip), stochastic: true,
                skellam: encoding)
        }
        guard secureAggregation != nil, let clip = codec.value.clipNorm,
            case .uniform(let bits, let rounding) = codec.value.quantization
        else { return nil }
        return SecureAggregationGrid(bits: bits, range: clip, stochastic: rounding == .stochastic)
    }
}

extension RunConfiguration {
    /// Whether the run adds distributed DP noise under secure aggregation (the Skellam mechanism).
    public var distributedPrivacy: Bool { secureAggregation != nil && privacy?.mechanism == .skellam }

    /// The distributed-DP encoding of the run: γ fitted to the ring (--secagg-ring-bits, else
    /// 32) for rounds of --cohort phones with the threshold t the server picks for that many;
    /// nil when the run has no distributed DP, its model is not neural, or no γ with γc ≥ 1
    /// fits (the validation names the flag).
    public var skellamEncoding: SkellamEncoding? {
        guard let settings = secureAggregation, let p = privacy, p.mechanism == .skellam,
            case .neural(let config) = model, p.clipNorm > 0, p.clipNorm.isFinite, p.noiseMultiplier > 0,
            p.noiseMultiplier.isFinite, (0..<1).contains(settings.corruptFraction),
            (0..<1).contains(settings.designDropout)
        else { return nil }
        let ringBits = settings.ringBits ?? SkellamRingDesign.maximumRingBits
        guard (2...SkellamRingDesign.maximumRingBits).contains(ringBits) else { return nil }
        let k = max(2, cohort)
        let t = SecureAggregationParameters(
            cohortSize: k, corruptFraction: settings.corruptFraction, dropoutFraction: settings.designDropout
        ).threshold
        let d = ParameterLayout.parameterCount(for: config)
        guard
            let design = SkellamRingDesign.fitted(
                clip: p.clipNorm, noiseMultiplier: p.noiseMultiplier, dimension: d, cohort: k, threshold: t,
                ringBits: ringBits)
        else { return nil }
        return SkellamEncoding(
            clip: p.clipNorm, scale: design.scale, noiseMultiplier: p.noiseMultiplier, dimension: d,
            designCohort: k, designThreshold: t, designRingBits: ringBits)
    }
}
