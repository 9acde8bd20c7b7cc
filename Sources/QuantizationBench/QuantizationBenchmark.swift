import FederatedCore
import Federation
public import FederationProtocol
import FederationServer
import UpdateCodec

/// A quantization benchmark: the same federated run once per (codec, zlib level, seed),
/// on identical cohorts, so accuracy and upload cost differ only by the codec.
///
/// Every run uses ``RunConfiguration/UploadTiming/float32Size``: the fleet's selection,
/// dropouts, stragglers and virtual times are computed from the float32 upload size
/// whatever the codec, so for one seed every codec trains on exactly the same devices, the
/// same text and the same aggregation order. Device training seeds already depend only on
/// (seed, round, device). The bytes on the wire are each codec's real bytes.
///
/// The plan is checked completely in ``init(base:codecs:zlibLevels:seeds:target:)``: a bad
/// entry is refused before any run starts.
public struct QuantizationBenchmark: Sendable, Equatable {
    /// One codec at one zlib level: one run per seed.
    public struct Experiment: Sendable, Hashable {
        /// The codec as listed, lower-cased, stages joined by `+` (e.g. `rot+q2s`).
        public var codec: String
        /// zlib level 0…9 (0: no zlib stage).
        public var zlibLevel: Int
        /// The run's scheme string (``CodecScheme`` syntax), e.g. `rot,q2s,z1`.
        public var scheme: String
        /// Whether the codec sends float32 values unclipped (lossless up to rotation rounding:
        /// the model is the same at every zlib level).
        public var isFloat32: Bool
        /// The differential-privacy variant (`kbd-sim bench privacy`), nil: no DP.
        public var privacy: PrivacyVariant?
        /// Whether the run aggregates with SecAgg+ (`bench quant --secure-aggregation`): the
        /// codec's bits on the shared grid [−clip, clip], masked; its label ends in `+secagg`.
        public var secureAggregation: Bool

        public init(
            codec: String, zlibLevel: Int, scheme: String, isFloat32: Bool, privacy: PrivacyVariant? = nil,
            secureAggregation: Bool = false
        ) {
            self.codec = codec
            self.zlibLevel = zlibLevel
            self.scheme = scheme
            self.isFloat32 = isFloat32
            self.privacy = privacy
            self.secureAggregation = secureAggregation
        }

        /// The same codec without DP (what a private run's loss is measured against).
        public var nonPrivate: Experiment {
            var e = self
            e.privacy = nil
            return e
        }
    }

    /// One point of a privacy benchmark: a noise multiplier and the cohort the noise is
    /// calibrated for; the rest of the DP settings come from the base configuration.
    public struct PrivacyVariant: Sendable, Hashable {
        public var noiseMultiplier: Double
        /// K′ (nil: the real cohort).
        public var simulatedCohort: Int?

        public init(noiseMultiplier: Double, simulatedCohort: Int?) {
            self.noiseMultiplier = noiseMultiplier
            self.simulatedCohort = simulatedCohort
        }
    }

    /// The default target, as a fraction of the reference's final mean acc@1.
    public static let defaultTargetFraction = 0.95

    /// What a codec entry may be, for error messages and `--help`.
    public static let codecGrammar = """
        a codec is f32, f16, q1s…q8s (stochastic rounding) or q1n…q8n (nearest rounding), optionally with \
        rot (randomized Hadamard rotation; rot=BLOCK), clip=NORM or chunk=N, stages joined by '+', e.g. \
        f32, f16, q8s, q4s, rot+q2s, rot+q1s; the zlib level goes in --zlib
        """

    /// Everything but the codec and the seed, shared by every run (for a privacy benchmark,
    /// also the DP settings other than the noise and the simulated cohort: ``privacyTemplate``).
    public var base: RunConfiguration
    /// The DP settings every private experiment starts from (clip, weighting, accounting, δ).
    public var privacyTemplate: PrivacyConfiguration?
    /// Codec × zlib level, codec-major in list order.
    public var experiments: [Experiment]
    /// The seeds; each experiment runs once per seed.
    public var seeds: [UInt64]
    /// The absolute acc@1 target, or nil for ``defaultTargetFraction`` of the reference.
    public var target: Double?
    /// The settings of the masked runs (`+secagg` experiments), nil: none planned.
    public var secureAggregation: SecureAggregationSettings?

    /// Plans a benchmark and checks every entry.
    ///
    /// - Parameters:
    ///   - base: the run settings shared by every run (its codec and seed are replaced).
    ///   - codecs: codec entries, each stages joined by `+` (``codecGrammar``).
    ///   - zlibLevels: zlib levels 0…9 crossed with every codec.
    ///   - seeds: run seeds, at least one.
    ///   - target: an absolute acc@1 in (0, 1], or nil for the default.
    /// - Throws: ``QuantizationBenchmarkError`` naming the first bad entry.
    ///   - privacy: for `kbd-sim bench privacy`, the DP variants crossed with every codec (nil
    ///     for a codec's run without DP), and the settings they share.
    ///   - secureAggregation: for `kbd-sim bench quant --secure-aggregation`, the settings of a
    ///     masked run planned after each integer codec's plain runs (its bits on the shared
    ///     grid [−C, C], C the entry's clip or `clip`; no rotation, no zlib), and that clip.
    public init(
        base: RunConfiguration, codecs: [String], zlibLevels: [Int], seeds: [UInt64], target: Double?,
        privacy: (variants: [PrivacyVariant?], template: PrivacyConfiguration)? = nil,
        secureAggregation: (settings: SecureAggregationSettings, clip: Float)? = nil
    ) throws(QuantizationBenchmarkError) {
        guard !codecs.allSatisfy({ $0.trimmingSpaces().isEmpty }) else {
            throw QuantizationBenchmarkError(.emptyCodecList, "--codecs is empty; \(Self.codecGrammar)")
        }
        var schemes: [(codec: String, scheme: CodecScheme)] = []
        for raw in codecs {
            let codec = raw.trimmingSpaces().lowercased()
            let scheme = try Self.parseCodec(codec, raw: raw)
            if let earlier = schemes.first(where: { $0.scheme == scheme }) {
                throw QuantizationBenchmarkError(
                    .duplicate,
                    "--codecs lists '\(raw)' twice (same codec as '\(earlier.codec)'); give each codec once", entry: raw
                )
            }
            schemes.append((codec, scheme))
        }
        guard !zlibLevels.isEmpty else {
            throw QuantizationBenchmarkError(
                .invalidZlibLevel, "--zlib is empty; give levels 0…9, e.g. 0,1,6,9 (0: no zlib)")
        }
        for (i, level) in zlibLevels.enumerated() {
            guard (0...9).contains(level) else {
                throw QuantizationBenchmarkError(
                    .invalidZlibLevel, "--zlib level \(level) is outside 0…9 (0: no zlib, 1 fastest, 9 smallest)",
                    entry: String(level))
            }
            if zlibLevels[..<i].contains(level) {
                throw QuantizationBenchmarkError(
                    .duplicate, "--zlib lists level \(level) twice; give each level once", entry: String(level))
            }
        }
        guard !seeds.isEmpty else {
            throw QuantizationBenchmarkError(
                .invalidSeeds, "no seeds; pass --seeds N (at least 1) or --seed-list 1,2,3")
        }
        for (i, seed) in seeds.enumerated() where seeds[..<i].contains(seed) {
            throw QuantizationBenchmarkError(
                .duplicate, "seed \(seed) is listed twice; give each seed once", entry: String(seed))
        }
        if let target, !(target > 0 && target <= 1) {
            throw QuantizationBenchmarkError(
                .invalidTarget,
                "--target must be an acc@1 in (0, 1], e.g. 0.2 (got \(target)); omit it for \(Int(Self.defaultTargetFraction * 100))% of float32's final acc@1",
                entry: String(target))
        }
        // An n-gram run uploads count tables, which no codec touches: it can only be compared
        // across privacy settings (DP counts), with the one default codec.
        guard base.model.neuralConfig != nil || (privacy != nil && schemes.count == 1) else {
            throw QuantizationBenchmarkError(
                .unsupportedModel,
                privacy == nil
                    ? "--model \(base.modelName): n-gram runs upload count tables, which no codec quantizes; use a neural model (cifg-small, lstm-tiny, a config file)"
                    : "--model \(base.modelName): n-gram runs upload count tables, which no codec quantizes; compare privacy settings with the default --codecs f32 only",
                entry: base.modelName)
        }
        var experiments: [Experiment] = []
        let variants = privacy?.variants ?? [nil]
        for (i, v) in variants.enumerated() where variants[..<i].contains(v) {
            throw QuantizationBenchmarkError(
                .duplicate,
                "the privacy variant \(v.map { "noise \($0.noiseMultiplier), K' \($0.simulatedCohort.map(String.init) ?? "-")" } ?? "without DP") is listed twice"
            )
        }
        for (codec, scheme) in schemes {
            for level in zlibLevels {
                var s = scheme
                s.zlibLevel = level
                s.zlibStrategy = .standard
                for variant in variants {
                    experiments.append(
                        Experiment(
                            codec: codec, zlibLevel: level, scheme: s.description,
                            isFloat32: s.quantization == .float32 && s.clipNorm == nil, privacy: variant))
                }
            }
            if let secure = secureAggregation, case .uniform = scheme.quantization {
                // The masked twin: the same bits and rounding on the shared grid, no rotation, no zlib.
                var s = scheme
                s.rotate = false
                s.zlibLevel = 0
                s.zlibStrategy = .standard
                s.clipNorm = scheme.clipNorm ?? secure.clip
                experiments.append(
                    Experiment(
                        codec: codec + "+secagg", zlibLevel: 0, scheme: s.description, isFloat32: false,
                        secureAggregation: true))
            }
        }
        if secureAggregation != nil, !experiments.contains(where: \.secureAggregation) {
            throw QuantizationBenchmarkError(
                .unknownCodec,
                "--secure-aggregation needs an integer codec in --codecs (e.g. q8s,q4s): masking works on integers, not floats"
            )
        }
        self.base = base
        self.privacyTemplate = privacy?.template
        self.experiments = experiments
        self.seeds = seeds
        self.target = target
        self.secureAggregation = secureAggregation?.settings
        for experiment in experiments {
            do { try configuration(for: experiment, seed: seeds[0]).validate() } catch {
                throw QuantizationBenchmarkError(.invalidConfiguration, error.message, cause: error)
            }
        }
    }

    /// Splits a comma-separated codec list (`f32,q8s,rot+q2s`); empty entries are kept so
    /// that they are reported.
    public static func codecList(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// The configuration of one run: the base with this experiment's scheme, this seed and
    /// codec-independent fleet timing.
    public func configuration(for experiment: Experiment, seed: UInt64) -> RunConfiguration {
        var c = base
        // `scheme` is a parsed CodecScheme's own description, which always parses again.
        c.codec = ParsedSetting(stringLiteral: experiment.scheme)
        c.seed = seed
        c.uploadTiming = .float32Size
        if let variant = experiment.privacy, var p = privacyTemplate {
            p.noiseMultiplier = variant.noiseMultiplier
            p.simulatedCohort = variant.simulatedCohort
            c.privacy = p
        } else {
            c.privacy = nil
        }
        c.secureAggregation = experiment.secureAggregation ? secureAggregation : nil
        return c
    }

    /// Every (experiment, seed) in the order they run: seed-major, so an interrupted
    /// benchmark has compared every codec on the first seeds.
    public var plannedRuns: [(experiment: Experiment, seed: UInt64)] {
        seeds.flatMap { seed in experiments.map { (experiment: $0, seed: seed) } }
    }

    private static func parseCodec(_ codec: String, raw: String) throws(QuantizationBenchmarkError) -> CodecScheme {
        guard !codec.isEmpty else {
            throw QuantizationBenchmarkError(
                .unknownCodec,
                "--codecs has an empty entry (two commas in a row, or a trailing comma); \(codecGrammar)", entry: raw)
        }
        let stages = codec.split(separator: "+").map { String($0).trimmingSpaces() }
        if let zlib = stages.first(where: { $0.first == "z" && $0.dropFirst().first?.isNumber == true }) {
            throw QuantizationBenchmarkError(
                .zlibInCodec,
                "--codecs entry '\(raw)' sets zlib ('\(zlib)'); list the codec without it and pass the level in --zlib, e.g. --zlib 0,1,6,9",
                entry: raw)
        }
        do {
            return try CodecScheme(parsing: codec)
        } catch {
            let why = error.code == .unknownToken ? "'\(error.token)' is no codec stage" : error.message
            throw QuantizationBenchmarkError(
                .unknownCodec, "--codecs entry '\(raw)' is not a codec (\(why)); \(codecGrammar)", entry: raw,
                cause: error)
        }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
