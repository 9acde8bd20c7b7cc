import FederationProtocol
import Privacy

/// The privacy a run's users have after a round, from what the run enforces or assumes
/// (``PrivacyConfiguration/Accounting``): what the server stores with every round and
/// reports in the round's summary.
enum RunPrivacyAccounting {
    /// The guarantee after committed round `round`, with `ledger` holding every committed
    /// participation so far.
    static func status(
        _ c: RunConfiguration, round: Int, ledger: ParticipationLedger
    ) throws -> PrivacyStatus? {
        guard let p = c.privacy else { return nil }
        let delta = p.effectiveDelta(devices: c.devices)
        let k = ledger.maximumCount
        switch p.accounting {
        case .participation where p.simulatedCohort != nil:
            // The K′ world's participations are not simulated: ε rests on the enforced limit.
            let m = c.participation?.maximumParticipations ?? k
            return PrivacyStatus(
                epsilon: GaussianMechanismAccountant.epsilon(
                    noiseMultiplier: p.noiseMultiplier, participations: m, delta: delta),
                delta: delta, accounting: p.accounting.rawValue, method: "gdp", maximumParticipations: m,
                rounds: round, noiseMultiplier: p.noiseMultiplier, simulatedCohort: p.simulatedCohort,
                assumption:
                    "no sampling assumption: at most \(m) participations per phone, enforced by the fleet, each a Gaussian mechanism of noise multiplier \(p.noiseMultiplier) (noise calibrated for a simulated cohort of \(p.simulatedCohort!))"
            )
        case .participation:
            // A phone in k rounds met k Gaussian mechanisms of multiplier z (with adaptive
            // clipping the update's and the count's together are worth z): μ = √k / z, exact.
            return PrivacyStatus(
                epsilon: GaussianMechanismAccountant.epsilon(
                    noiseMultiplier: p.noiseMultiplier, participations: k, delta: delta),
                delta: delta, accounting: p.accounting.rawValue, method: "gdp", maximumParticipations: k,
                rounds: round, noiseMultiplier: p.noiseMultiplier, simulatedCohort: p.simulatedCohort,
                assumption:
                    "no sampling assumption: the most-often selected phone's \(k) participations, each a Gaussian mechanism of noise multiplier \(p.noiseMultiplier)"
            )
        case .poisson:
            let q = min(1, Double(p.accountedCohort(cohort: c.cohort)) / Double(c.devices))
            let guarantee = try RDPAccountant().epsilon(
                samplingRate: q, noiseMultiplier: p.noiseMultiplier, rounds: round, delta: delta)
            return PrivacyStatus(
                epsilon: guarantee.epsilon, delta: delta, accounting: p.accounting.rawValue, method: "rdp",
                maximumParticipations: k, rounds: round, noiseMultiplier: p.noiseMultiplier,
                simulatedCohort: p.simulatedCohort,
                assumption:
                    "ASSUMES Poisson sampling at q = \(q) each round, which this fleet's selection (eligible phones, over-selection) does not do"
            )
        case .tree:
            return nil
        }
    }
}
