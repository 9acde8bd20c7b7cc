import Aggregation
import FederatedCore
import FederationProtocol
import UpdateCodec

// What `--secure-aggregation` composes with: neural updates quantized on a shared grid, and
// an aggregation chain that never needs to see one phone's update.
extension RunConfiguration {
    /// The stages a chain may name under secure aggregation (the server holds only the sum).
    static let secureAggregationStageNames: Set<String> = ["decode", "weight", "sum", "server-optimizer"]

    /// Checks the secure-aggregation settings and what they combine with; the error names the
    /// flag to change.
    func validateSecureAggregation() throws(FederationError) {
        guard let settings = secureAggregation else { return }
        func refuse(_ message: String) -> FederationError {
            FederationError(.invalidConfiguration, "--secure-aggregation: \(message)")
        }
        guard (0..<1).contains(settings.stageDropout) else {
            throw FederationError(
                .invalidConfiguration,
                "--secagg-dropout must be in [0, 1) (got \(settings.stageDropout)): the chance a phone drops between two stages"
            )
        }
        guard (1...3600).contains(settings.stageSeconds) else {
            throw FederationError(
                .invalidConfiguration,
                "--secagg-stage-seconds must be in 1…3600 (got \(settings.stageSeconds)): the virtual seconds between two protocol stages"
            )
        }
        guard (0..<1).contains(settings.corruptFraction), (0..<1).contains(settings.designDropout) else {
            throw refuse(
                "the colluding fraction γ and the design dropout δ must be in [0, 1) (got \(settings.corruptFraction), \(settings.designDropout))"
            )
        }
        guard case .neural = model else {
            throw refuse(
                "--model \(modelName) is an n-gram model, whose count updates are not quantized weight deltas; choose a neural --model (e.g. cifg-small)"
            )
        }
        if let p = privacy {
            // Distributed DP replaces the codec's grid: the phones send ring elements.
            try validateDistributedPrivacy(p, settings)
        } else {
            try validateSecureAggregationCodec()
        }
        if federatedEval {
            throw refuse(
                "--federated-eval sends each phone's own metrics in the clear beside its update; run without it")
        }
        for entry in effectiveAggregationStages {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts.first ?? ""
            guard Self.secureAggregationStageNames.contains(name) else {
                throw refuse(
                    "--aggregation stage '\(name)' looks at single updates, which masking hides from the server; use --aggregation \(Self.secureAggregationStages.joined(separator: ",")) (the default under --secure-aggregation)"
                )
            }
            if name == "weight", parts.count < 2 || parts[1] != "uniform" {
                throw refuse(
                    "--aggregation \(entry) weighs phones by what they report; under masking each phone counts once, so use weight:uniform"
                )
            }
        }
    }

    /// The codec checks of secure aggregation without DP: an integer codec with a clip, the
    /// shared grid applied unrotated and uncompressed.
    private func validateSecureAggregationCodec() throws(FederationError) {
        func refuse(_ message: String) -> FederationError {
            FederationError(.invalidConfiguration, "--secure-aggregation: \(message)")
        }
        if secureAggregation?.ringBits != nil {
            throw FederationError(
                .invalidConfiguration,
                "--secagg-ring-bits is the ring of distributed DP; it needs --dp-noise and --dp-clip (without DP the ring is b + ⌈log2 K⌉ bits)"
            )
        }
        let scheme = codec.value
        guard case .uniform(let bits, _) = scheme.quantization else {
            throw refuse(
                "--codec \(codec.text) sends floats; masking works on integers, so give an integer codec with a clip, e.g. --codec clip=0.5,q8s"
            )
        }
        guard scheme.clipNorm != nil else {
            throw refuse(
                "--codec \(codec.text) has no clip; the cohort quantizes on the shared grid [-C, C], so give C, e.g. --codec clip=0.5,q\(bits)s"
            )
        }
        guard !scheme.rotate else {
            throw refuse(
                "--codec \(codec.text) rotates; the shared grid is applied without rotation for now, so drop rot (e.g. --codec clip=0.5,q\(bits)s)"
            )
        }
        guard scheme.zlibLevel == 0 else {
            throw refuse(
                "--codec \(codec.text) deflates; masked values are uniform and do not compress, so drop z\(scheme.zlibLevel)"
            )
        }
    }

    /// Distributed DP under masking (the Skellam mechanism): the phones clip to --dp-clip, add
    /// their noise shares before masking, and the ring must hold the noisy sum. Everything
    /// that needs the server to see single updates, or a sampling assumption, is refused.
    private func validateDistributedPrivacy(_ p: PrivacyConfiguration, _ settings: SecureAggregationSettings)
        throws(FederationError)
    {
        func refuse(_ flag: String, _ message: String) -> FederationError {
            FederationError(.invalidConfiguration, "--\(flag) \(message)")
        }
        guard p.mechanism == .skellam else {
            throw refuse(
                "dp-mechanism",
                "\(p.mechanism.rawValue) adds noise on the server to single updates or prefix sums, which masking hides; under --secure-aggregation only distributed DP is built: --dp-mechanism skellam (the default there)"
            )
        }
        guard p.clipNorm > 0, p.clipNorm.isFinite else {
            throw refuse("dp-clip", "must be a positive L2 norm (got \(p.clipNorm))")
        }
        guard p.noiseMultiplier > 0, p.noiseMultiplier.isFinite else {
            throw refuse("dp-noise", "must be a positive noise multiplier (got \(p.noiseMultiplier))")
        }
        guard p.placement == .central else {
            throw refuse(
                "dp-noise-placement",
                "is for the Gaussian mechanism; under --secure-aggregation the noise is always the phones' (Skellam shares in the masked sum): leave it out"
            )
        }
        guard p.adaptiveQuantile == nil else {
            throw refuse(
                "dp-adaptive-quantile",
                "needs each phone's clipped count in the clear; distributed DP clips to a fixed --dp-clip")
        }
        guard !p.perLayerClipping else {
            throw refuse("dp-per-layer", "is not built for distributed DP; the whole update is clipped to --dp-clip")
        }
        guard p.weighting == "uniform" else {
            throw refuse("dp-weighting", "must be uniform under --secure-aggregation (each phone counts once)")
        }
        guard p.accounting == .participation, p.simulatedCohort == nil else {
            throw refuse(
                p.simulatedCohort != nil ? "dp-simulated-cohort" : "dp-accounting",
                "is not available with distributed DP: its ε composes the phones' participations without amplification by sampling, at the noise the real cohort adds"
            )
        }
        let ringBits = settings.ringBits ?? SkellamRingDesign.maximumRingBits
        guard (2...SkellamRingDesign.maximumRingBits).contains(ringBits) else {
            throw refuse("secagg-ring-bits", "must be in 2…32 (got \(ringBits)); wider rings are not implemented")
        }
        guard case .neural = model else {
            throw refuse("model", "\(modelName) is an n-gram model; distributed DP is for neural models")
        }
        guard skellamEncoding != nil else {
            throw refuse(
                "secagg-ring-bits",
                "\(ringBits) cannot hold the noisy sum of --cohort \(cohort) phones even at γ·c = 1 (the bound K·⌈γc⌉ plus the Skellam noise's tail at --dp-noise \(p.noiseMultiplier) would need more than \(ringBits) bits, and at most 32 are implemented): lower --cohort or --dp-noise, or raise --secagg-ring-bits"
            )
        }
    }
}
