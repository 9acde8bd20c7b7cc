import FederationProtocol
import Foundation
import LanguageModels
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
        if let counts = CountPrivacy(c) { return try countStatus(counts, round: round, participations: k) }
        if c.distributedPrivacy { return try skellamStatus(c, round: round, delta: delta) }
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
                    "no sampling assumption: the \(k) committed participations of the phone that reported most often, each a Gaussian mechanism of noise multiplier \(p.noiseMultiplier)"
            )
        case .poisson:
            // Privacy loss distributions first (tight), Rényi DP beside it.
            let q = min(1, Double(p.accountedCohort(cohort: c.cohort)) / Double(c.devices))
            let pld = try PLDAccountant(sampling: .poisson(rate: q), noiseMultiplier: p.noiseMultiplier)
                .epsilon(rounds: round, delta: delta)
            let rdp = try RDPAccountant().epsilon(
                samplingRate: q, noiseMultiplier: p.noiseMultiplier, rounds: round, delta: delta)
            var status = PrivacyStatus(
                epsilon: pld.epsilon, delta: delta, accounting: p.accounting.rawValue, method: "pld",
                maximumParticipations: k, rounds: round, noiseMultiplier: p.noiseMultiplier,
                simulatedCohort: p.simulatedCohort,
                assumption:
                    "ASSUMES Poisson sampling at q = \(q) each round, which this fleet's selection (eligible phones, over-selection) does not do"
            )
            status.epsilonRDP = rdp.epsilon
            return status
        case .tree:
            // DP-FTRL: the tree over the run's rounds with the limits the fleet enforces; the
            // guarantee is for the whole run as configured, so it is the same every round.
            guard let limits = c.participation, let m = limits.maximumParticipations, let b = limits.minimumSeparation
            else { return nil }
            let tree = try TreeAccountant.cached(
                noiseMultiplier: p.noiseMultiplier, rounds: c.rounds, minSeparation: b, maxParticipations: m)
            let guarantee = try tree.epsilon(delta: delta)
            var status = PrivacyStatus(
                epsilon: guarantee.epsilon, delta: delta, accounting: p.accounting.rawValue, method: "zcdp",
                maximumParticipations: k, rounds: round, noiseMultiplier: p.noiseMultiplier,
                simulatedCohort: p.simulatedCohort,
                assumption:
                    "no sampling assumption: tree aggregation over the run's \(c.rounds) rounds, each phone at most \(m) times and \(b) rounds apart (enforced by the fleet and the server); ρ = \(guarantee.rho) zCDP, converted through RDP"
            )
            status.rho = guarantee.rho
            return status
        }
    }
}

extension RunPrivacyAccounting {
    /// DP n-gram counts: k Gaussian sparse histograms, composed as μ = √k / z plus the
    /// threshold's k·δ_τ (``SparseHistogramAccountant``).
    static func countStatus(_ counts: CountPrivacy, round: Int, participations k: Int) throws -> PrivacyStatus {
        let g = try SparseHistogramAccountant.guarantee(
            noiseMultiplier: counts.noiseMultiplier, participations: k, thresholdDelta: counts.thresholdDelta,
            delta: counts.delta)
        return PrivacyStatus(
            epsilon: g?.epsilon ?? .infinity, delta: counts.delta, accounting: "participation",
            method: "gdp+threshold", maximumParticipations: k, rounds: round, noiseMultiplier: counts.noiseMultiplier,
            simulatedCohort: nil,
            assumption:
                "no sampling assumption: the \(k) committed participations of the phone that reported most often, each a Gaussian sparse histogram of its counts (at most \(counts.bound.maximumPerOrder) n-grams per order, count ≤ \(counts.bound.maximumCount), noise std \(counts.standardDeviation), threshold \(counts.threshold)); \(g.map { "\($0.thresholdDelta)" } ?? "all") of δ is the chance that an n-gram only that phone counted was released"
        )
    }
}

extension RunPrivacyAccounting {
    /// Distributed DP under secure aggregation: every successful round releases the sum with
    /// at least Sk(μ) noise, μ = z²Δ₂², and a phone takes part in at most
    /// --max-participations rounds (else every round): RDP composed over that many, no
    /// amplification by sampling (``SkellamAccountant``). The figure is the run's whole
    /// guarantee as configured, the same every round.
    static func skellamStatus(_ c: RunConfiguration, round: Int, delta: Double) throws -> PrivacyStatus? {
        guard let p = c.privacy, let encoding = c.skellamEncoding else { return nil }
        let participations = min(c.participation?.maximumParticipations ?? c.rounds, c.rounds)
        let g = try SkellamAccountant.epsilon(
            noiseMultiplier: p.noiseMultiplier, clip: encoding.clip, scale: encoding.scale,
            dimension: encoding.dimension, participations: participations, delta: delta)
        var status = PrivacyStatus(
            epsilon: g.epsilon, delta: delta, accounting: p.accounting.rawValue, method: "skellam-rdp",
            maximumParticipations: participations, rounds: round, noiseMultiplier: p.noiseMultiplier,
            simulatedCohort: nil,
            assumption:
                "no sampling assumption: at most \(participations) participations per phone (\(c.participation?.maximumParticipations != nil ? "--max-participations" : "every round of the run")), each a release of the secure sum with distributed Skellam noise Sk(μ), μ = z²Δ₂² = \(g.variance), Δ₂ = γc + √d = \(g.l2Sensitivity), Δ₁ = \(g.l1Sensitivity) (γ = \(encoding.scale)); against an honest-but-curious server, with no phone colluding with it"
        )
        status.skellamScale = encoding.scale
        status.skellamVariance = g.variance
        status.l1Sensitivity = g.l1Sensitivity
        status.l2Sensitivity = g.l2Sensitivity
        status.order = g.order
        return status
    }
}

extension TreeAccountant {
    private static let cache = TreeAccountantCache()

    /// The accountant for these settings, built once per process (its sensitivity search
    /// runs over the whole tree; a run asks the same question every round).
    static func cached(noiseMultiplier: Double, rounds: Int, minSeparation: Int, maxParticipations: Int) throws
        -> TreeAccountant
    {
        try cache.accountant(
            noiseMultiplier: noiseMultiplier, rounds: rounds, minSeparation: minSeparation,
            maxParticipations: maxParticipations)
    }
}

/// The tree accountants built so far, by their settings.
private final class TreeAccountantCache: @unchecked Sendable {
    private let lock = NSLock()
    private var built: [String: TreeAccountant] = [:]

    func accountant(noiseMultiplier: Double, rounds: Int, minSeparation: Int, maxParticipations: Int) throws
        -> TreeAccountant
    {
        let key = "\(noiseMultiplier.bitPattern)-\(rounds)-\(minSeparation)-\(maxParticipations)"
        lock.lock()
        if let accountant = built[key] {
            lock.unlock()
            return accountant
        }
        lock.unlock()
        let accountant = try TreeAccountant(
            noiseMultiplier: noiseMultiplier, rounds: rounds, minSeparation: minSeparation,
            maxParticipations: maxParticipations)
        lock.lock()
        built[key] = accountant
        lock.unlock()
        return accountant
    }
}
