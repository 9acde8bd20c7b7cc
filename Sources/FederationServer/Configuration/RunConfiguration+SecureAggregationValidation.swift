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
        if privacy != nil {
            throw refuse(
                "differential privacy's clip and noise stages (--dp-noise, --dp-clip) work on single updates on the server, which masking hides; run without --dp-* (distributed DP under masking is not built)"
            )
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
}
