import Aggregation
import FederationProtocol

extension RunConfiguration {
    /// Checks differentially private n-gram counts (`--dp-noise` with `--dp-max-ngrams`):
    /// the bounds, the threshold's share of δ, and that nothing else the run asks for breaks
    /// the counts' sensitivity or the accounting. Each problem names the flag to change.
    func validateCountPrivacy(_ p: PrivacyConfiguration, order: Int) throws(FederationError) {
        func bad(_ flag: String, _ rule: String) -> FederationError {
            FederationError(.invalidConfiguration, "--\(flag) \(rule)")
        }
        guard let bounds = p.countBounds else {
            throw bad(
                "dp-noise",
                "on the n-gram model \(modelName) needs --dp-max-ngrams M (each phone's distinct n-grams per order and round), not --dp-clip; e.g. --dp-noise 1 --dp-max-ngrams 64"
            )
        }
        guard (1...1_000_000).contains(bounds.maximumNGramsPerOrder) else {
            throw bad("dp-max-ngrams", "must be in 1…1000000 (got \(bounds.maximumNGramsPerOrder))")
        }
        guard (1...1_000_000).contains(bounds.maximumCount) else {
            throw bad("dp-max-count", "must be in 1…1000000 (got \(bounds.maximumCount))")
        }
        if let tau = bounds.threshold, tau < 1 {
            throw bad("dp-count-threshold", "must be at least 1 (got \(tau)): a released count is a whole number ≥ 1")
        }
        if let d = p.delta, !(d > 0 && d < 1) { throw bad("dp-delta", "must be in (0, 1) (got \(d))") }
        // The counts are a Gaussian sparse histogram with one fixed bound per phone: none of
        // the neural model's clipping, weighting, placement or sampling options apply.
        guard p.mechanism == .gaussian else {
            throw bad("dp-mechanism", "must be gaussian for n-gram counts (tree aggregation is for the neural models)")
        }
        guard p.accounting == .participation else {
            throw bad(
                "dp-accounting",
                "must be participation for n-gram counts: their ε rests on what the fleet enforces (sampling amplification of the thresholded counts is not accounted)"
            )
        }
        guard p.adaptiveQuantile == nil, !p.perLayerClipping, p.adaptiveCountNoise == nil else {
            throw bad(
                "dp-adaptive-quantile",
                "and --dp-per-layer clip a neural update; n-gram counts are bounded by --dp-max-ngrams and --dp-max-count"
            )
        }
        guard p.weighting == "uniform" else {
            throw bad(
                "dp-weighting", "does not apply to n-gram counts (every phone's bounded counts are added as they are)")
        }
        guard p.placement == .central else {
            throw bad(
                "dp-noise-placement",
                "must be central for n-gram counts: the server adds the noise to the round's summed counts")
        }
        guard p.simulatedCohort == nil else {
            throw bad(
                "dp-simulated-cohort",
                "is for the neural models: a threshold on the counts does not scale with a cohort that did not report")
        }
        guard let resolved = CountPrivacy(self) else {
            throw bad(
                "dp-noise",
                "\(p.noiseMultiplier) with --dp-max-ngrams \(bounds.maximumNGramsPerOrder) reaches no threshold τ whose chance of releasing one phone's own n-grams fits δ; raise --dp-delta or lower --dp-max-ngrams"
            )
        }
        guard resolved.thresholdDeltaBudgetHolds else {
            let needed = CountPrivacy.derivedThreshold(self, bounds: bounds).map { " (\($0) or more)" } ?? ""
            throw bad(
                "dp-count-threshold",
                "\(resolved.threshold) is too low: at noise std \(resolved.standardDeviation) one phone's own n-grams are released with probability \(resolved.thresholdDelta) a round, which over \(resolved.participationBound) participations uses up δ = \(resolved.delta); raise it\(needed) or leave it out"
            )
        }
    }
}
