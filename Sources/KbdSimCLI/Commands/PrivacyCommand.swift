import ArgumentParser
import FederatedCore
import Foundation
import Privacy
import SecureAggregation

/// `kbd-sim privacy`: the user-level (ε, δ) of a training schedule, or the noise it needs.
struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract:
            "Account the (ε, δ) of DP training rounds (PLD, RDP, tree aggregation), or the noise a target ε needs.",
        discussion: """
            Each round, the server sums the clipped updates of the phones that took part and \
            adds Gaussian noise of standard deviation σ × clip norm (σ is the noise multiplier).

            kbd-sim privacy epsilon   ε at δ after T rounds: the privacy loss distribution \
            (PLD, primary) and RDP beside it, for Poisson sampling (--rate), a fixed cohort \
            drawn without replacement (--cohort, --population) or no sampling; or, with \
            --mechanism tree, DP-FTRL tree aggregation (zCDP, ρ and ε).
            kbd-sim privacy noise     the smallest σ whose ε at δ is at most --target-epsilon.
            kbd-sim privacy rdp       (the default: `kbd-sim privacy --sampling-rate …`) the \
            RDP accountant alone, as Google's dp_accounting RdpAccountant computes it.

            What the figures assume: Poisson sampling (each phone in each round independently \
            with probability q) or a uniformly random cohort; a fleet that selects phones by \
            availability guarantees neither, and the figure is then what the schedule would \
            give, not a proof about that fleet. User level: one user per phone, the phone's \
            whole update clipped. δ defaults to 1e-10, what production keyboards report. \
            Details: docs/privacy.md.

            Examples:
              kbd-sim privacy epsilon --rate 0.002 --noise 1 --rounds 2000 --delta 1e-10
              kbd-sim privacy epsilon --sampling without-replacement --cohort 6500 --population 3000000 --noise 1 --rounds 2000
              kbd-sim privacy epsilon --mechanism tree --noise 7 --rounds 2000 --min-separation 313 --max-participations 6
              kbd-sim privacy noise --target-epsilon 2 --rate 0.002 --rounds 2000
              kbd-sim privacy --cohort 6500 --devices 3000000 --noise-multiplier 1 --rounds 2000
            """,
        subcommands: [PrivacyEpsilonCommand.self, PrivacyNoiseCommand.self, PrivacyRDPCommand.self],
        defaultSubcommand: PrivacyRDPCommand.self
    )
}

/// The schedule both `privacy epsilon` and `privacy noise` account: mechanism, sampling,
/// rounds, δ.
struct PrivacyScheduleOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "gaussian (a sampled Gaussian sum each round), tree (DP-FTRL tree aggregation), counts (DP n-gram counts: a Gaussian sparse histogram each round) or skellam (distributed DP under secure aggregation: --clip, --dimension and --scale or --cohort).",
            valueName: "kind"))
    var mechanism: String = "gaussian"

    @Option(
        help: ArgumentHelp(
            "poisson (--rate), without-replacement (--cohort, --population) or none (every phone every round).",
            valueName: "kind"))
    var sampling: String = "poisson"

    @Option(help: ArgumentHelp("Poisson sampling: probability q in (0, 1] that a phone takes part.", valueName: "q"))
    var rate: Double?

    @Option(help: ArgumentHelp("Without replacement: phones per round M.", valueName: "M"))
    var cohort: Int?

    @Option(help: ArgumentHelp("Without replacement: phones N the cohort is drawn from.", valueName: "N"))
    var population: Int?

    @Option(help: ArgumentHelp("Training rounds T, at least 1.", valueName: "T"))
    var rounds: Int

    @Option(help: ArgumentHelp("δ, in (0, 1); 1e-10 is what production keyboards report.", valueName: "δ"))
    var delta: Double = 1e-10

    @Option(
        help: ArgumentHelp(
            "Tree: rounds strictly between two participations of one phone (y − x − 1 ≥ B).", valueName: "B"))
    var minSeparation: Int?

    @Option(help: ArgumentHelp("Tree: participations of one phone at most.", valueName: "K"))
    var maxParticipations: Int?

    @Option(help: ArgumentHelp("Counts: the n-gram order N, 1…5.", valueName: "N"))
    var order: Int = 3

    @Option(help: ArgumentHelp("Counts: each phone's most distinct n-grams per order and round.", valueName: "M"))
    var maxNgrams: Int?

    @Option(help: ArgumentHelp("Counts: the most one phone counts one n-gram in a round.", valueName: "c"))
    var maxCount: Int = 1

    @Option(
        help: ArgumentHelp(
            "Counts: the release threshold τ (default: the smallest that spends at most δ/10 over the rounds).",
            valueName: "τ"))
    var threshold: Int?

    @Option(help: ArgumentHelp("Skellam: the L2 clip c of each phone's update.", valueName: "c"))
    var clip: Double?

    @Option(help: ArgumentHelp("Skellam: coordinates d of an update (the model's parameters).", valueName: "d"))
    var dimension: Int?

    @Option(
        help: ArgumentHelp(
            "Skellam: the scale γ (default: fitted, as `kbd-sim run` does, for rounds of --cohort phones in a --ring-bits ring).",
            valueName: "γ"))
    var scale: Double?

    @Option(help: ArgumentHelp("Skellam: the widest ring m that γ is fitted to, 2…32.", valueName: "m"))
    var ringBits: Int = 32

    @Option(help: ArgumentHelp("PLD grid interval of the privacy loss, in (0, 1).", valueName: "h"))
    var discretization: Double = PLDAccountant.defaultDiscretization

    @Flag(help: "Print one JSON document instead of the table.")
    var json = false

    enum Schedule {
        case gaussian(Sampling)
        case tree(minSeparation: Int, maxParticipations: Int)
        /// DP n-gram counts; --rounds is the rounds one phone reports in.
        case counts(SparseHistogramAccountant.Counts)
        /// Distributed Skellam noise under secure aggregation: clip c, scale γ, dimension d,
        /// k participations (fitted for `cohort` phones with threshold `threshold`, if given).
        case skellam(clip: Double, scale: Double, dimension: Int, participations: Int, cohort: Int?, threshold: Int?)
    }

    /// `--mechanism skellam`: c, d and γ (given, or fitted to the ring for --cohort phones and
    /// the threshold t secure aggregation picks for them), participations min(K, T).
    func skellamSchedule() throws -> Schedule {
        let given = [
            ("--rate", rate != nil), ("--population", population != nil), ("--min-separation", minSeparation != nil),
        ].filter(\.1).map(\.0)
        if !given.isEmpty {
            throw ValidationError(
                "\(given.joined(separator: ", ")): --mechanism skellam takes no sampling flags; its ε composes --rounds (or --max-participations) releases without amplification"
            )
        }
        guard let c = clip, c.isFinite, c > 0 else {
            throw ValidationError(
                "--mechanism skellam needs --clip c, a finite number above 0 (got \(clip.map { "\($0)" } ?? "none"))")
        }
        guard let d = dimension, d >= 1 else {
            throw ValidationError("--mechanism skellam needs --dimension d ≥ 1, the update's coordinates")
        }
        if let k = maxParticipations, k < 1 {
            throw ValidationError("--max-participations must be at least 1 (got \(k))")
        }
        let participations = min(maxParticipations ?? rounds, rounds)
        if let gamma = scale {
            guard gamma.isFinite, gamma > 0 else {
                throw ValidationError("--scale must be a finite number above 0 (got \(gamma))")
            }
            if cohort != nil { throw ValidationError("give --scale or --cohort (to fit γ), not both") }
            return .skellam(
                clip: c, scale: gamma, dimension: d, participations: participations, cohort: nil, threshold: nil)
        }
        guard let k = cohort, k >= 2 else {
            throw ValidationError(
                "--mechanism skellam needs --scale γ, or --cohort K ≥ 2 to fit γ to the ring as `kbd-sim run` does")
        }
        guard (2...SkellamRingDesign.maximumRingBits).contains(ringBits) else {
            throw ValidationError("--ring-bits must be in 2…32 (got \(ringBits))")
        }
        return .skellam(clip: c, scale: 0, dimension: d, participations: participations, cohort: k, threshold: nil)
    }

    /// The schedule, or a usage error naming the flag to change.
    func schedule() throws -> Schedule {
        if rounds < 1 { throw ValidationError("--rounds must be at least 1 (got \(rounds))") }
        if !(delta.isFinite && delta > 0 && delta < 1) {
            throw ValidationError(
                "--delta must be a finite number strictly between 0 and 1 (got \(delta)); the default is 1e-10")
        }
        if !(discretization.isFinite && discretization > 0 && discretization < 1) {
            throw ValidationError(
                "--discretization must be a finite number in (0, 1) (got \(discretization)); the default is 1e-4")
        }
        if mechanism != "counts", maxNgrams != nil || threshold != nil {
            throw ValidationError("--max-ngrams and --threshold are for --mechanism counts")
        }
        if mechanism != "skellam", clip != nil || dimension != nil || scale != nil || ringBits != 32 {
            throw ValidationError("--clip, --dimension, --scale and --ring-bits are for --mechanism skellam")
        }
        switch mechanism {
        case "skellam":
            return try skellamSchedule()
        case "counts":
            let given = [
                ("--rate", rate != nil), ("--cohort", cohort != nil), ("--population", population != nil),
                ("--min-separation", minSeparation != nil), ("--max-participations", maxParticipations != nil),
            ].filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationError(
                    "\(given.joined(separator: ", ")): --mechanism counts takes no sampling or tree flags; its --rounds are the rounds one phone reports in (no amplification)"
                )
            }
            guard let m = maxNgrams else {
                throw ValidationError("--mechanism counts needs --max-ngrams M, e.g. 16")
            }
            guard (1...5).contains(order) else { throw ValidationError("--order must be in 1…5 (got \(order))") }
            guard m >= 1 else { throw ValidationError("--max-ngrams must be at least 1 (got \(m))") }
            guard maxCount >= 1 else { throw ValidationError("--max-count must be at least 1 (got \(maxCount))") }
            if let t = threshold, t < 1 { throw ValidationError("--threshold must be at least 1 (got \(t))") }
            return .counts(.init(order: order, maximumPerOrder: m, maximumCount: maxCount, threshold: threshold))
        case "gaussian":
            if minSeparation != nil || maxParticipations != nil {
                throw ValidationError("--min-separation and --max-participations are for --mechanism tree")
            }
            return .gaussian(try samplingValue())
        case "tree":
            if rate != nil || cohort != nil || population != nil {
                throw ValidationError(
                    "--rate, --cohort and --population are for --mechanism gaussian; the tree takes "
                        + "--min-separation and --max-participations")
            }
            guard let b = minSeparation, let k = maxParticipations else {
                throw ValidationError(
                    "--mechanism tree needs --min-separation B and --max-participations K, e.g. 313 and 6")
            }
            guard b >= 0, b <= rounds else {
                throw ValidationError("--min-separation must be in 0…--rounds (got \(b) for \(rounds) rounds)")
            }
            guard k >= 1 else { throw ValidationError("--max-participations must be at least 1 (got \(k))") }
            guard b * (k - 1) < rounds else {
                throw ValidationError(
                    "--min-separation × (--max-participations − 1) must be below --rounds (got \(b) × \(k - 1) ≥ "
                        + "\(rounds)): \(k) participations that far apart do not fit; lower either")
            }
            return .tree(minSeparation: b, maxParticipations: k)
        default:
            throw ValidationError("--mechanism must be gaussian, tree, counts or skellam (got \(mechanism))")
        }
    }

    func samplingValue() throws -> Sampling {
        switch sampling {
        case "poisson":
            guard cohort == nil, population == nil else {
                throw ValidationError("--cohort and --population are for --sampling without-replacement")
            }
            guard let q = rate else { throw ValidationError("--sampling poisson needs --rate q, e.g. 0.002") }
            guard q.isFinite, q > 0, q <= 1 else {
                throw ValidationError("--rate must be a finite number in (0, 1] (got \(q))")
            }
            return .poisson(rate: q)
        case "without-replacement":
            guard rate == nil else { throw ValidationError("--rate is for --sampling poisson; pass --cohort M") }
            guard let m = cohort, let n = population else {
                throw ValidationError(
                    "--sampling without-replacement needs --cohort M and --population N, e.g. 6500 and 3000000")
            }
            guard n >= 1 else { throw ValidationError("--population must be at least 1 (got \(n))") }
            guard m >= 1, m <= n else { throw ValidationError("--cohort must be in 1…--population (got \(m) of \(n))") }
            return .withoutReplacement(cohort: m, population: n)
        case "none":
            guard rate == nil, cohort == nil, population == nil else {
                throw ValidationError("--sampling none takes no --rate, --cohort or --population")
            }
            return .none
        default:
            throw ValidationError("--sampling must be poisson, without-replacement or none (got \(sampling))")
        }
    }

    static func samplingName(_ sampling: Sampling) -> String {
        switch sampling {
        case .poisson: "poisson"
        case .withoutReplacement: "without-replacement"
        case .none: "none"
        }
    }

    /// The keys every document shares.
    func common(_ schedule: Schedule) -> [String: Any] {
        var document: [String: Any] = ["rounds": rounds, "delta": delta]
        switch schedule {
        case .gaussian(let sampling):
            document["mechanism"] = "gaussian"
            document["sampling"] = Self.samplingName(sampling)
            document["q"] = sampling.rate
            if case .withoutReplacement(let m, let n) = sampling {
                document["cohort"] = m
                document["population"] = n
            }
        case .tree(let b, let k):
            document["mechanism"] = "tree"
            document["min separation"] = b
            document["max participations"] = k
        case .counts(let counts):
            document["mechanism"] = "counts"
            document["order"] = counts.order
            document["max ngrams"] = counts.maximumPerOrder
            document["max count"] = counts.maximumCount
            document["sensitivity"] = counts.sensitivity
        case .skellam(let c, _, let d, let k, let cohort, _):
            document["mechanism"] = "skellam"
            document["clip"] = c
            document["dimension"] = d
            document["participations"] = k
            if let cohort {
                document["cohort"] = cohort
                document["ring bits"] = ringBits
            }
        }
        return document
    }

    /// γ of a skellam schedule: given, or fitted as `kbd-sim run` fits it (the threshold t that
    /// secure aggregation's default parameters pick for --cohort phones); nil when no γ fits.
    func skellamScale(noise: Double, _ schedule: Schedule) -> (scale: Double, threshold: Int?)? {
        guard case .skellam(let c, let gamma, let d, _, let cohort, _) = schedule else { return nil }
        guard let cohort else { return (gamma, nil) }
        let t = SecureAggregationParameters(cohortSize: cohort).threshold
        guard
            let design = SkellamRingDesign.fitted(
                clip: c, noiseMultiplier: noise, dimension: d, cohort: cohort, threshold: t, ringBits: ringBits)
        else { return nil }
        return (design.scale, t)
    }

    /// RDP of the same schedule: Poisson or no sampling as is; without replacement the RDP of
    /// the same dominating pair (shift 2, i.e. σ/2 at rate M/N).
    func rdpGuarantee(_ sampling: Sampling, noise: Double) throws(PrivacyError) -> PrivacyGuarantee {
        let shift: Double = if case .withoutReplacement = sampling { 2 } else { 1 }
        return try RDPAccountant().epsilon(
            samplingRate: sampling.rate, noiseMultiplier: noise / shift, rounds: rounds, delta: delta)
    }
}

/// A Double for JSON: ∞ (no finite ε) as the string "infinity".
private func jsonNumber(_ value: Double) -> Any { value.isFinite ? value : "infinity" }

/// `kbd-sim privacy epsilon`: ε at δ after T rounds.
struct PrivacyEpsilonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epsilon",
        abstract: "ε at δ after T rounds: PLD (and RDP beside it), or the tree's zCDP ρ and ε.",
        discussion: """
            Gaussian rounds (--mechanism gaussian, the default): `epsilon` is the privacy loss \
            distribution accountant's (pessimistic connect-the-dots discretization, interval \
            --discretization, FFT composition), as dp_accounting's PLDAccountant computes it; \
            `epsilon-rdp` and `order` are the RDP accountant's for the same schedule, a looser \
            bound. Poisson sampling is add-or-remove-one; a cohort drawn without replacement is \
            replace-one (one phone's update replaced by another's, so the sum moves by up to 2 \
            clip norms).

            Tree aggregation (--mechanism tree): DP-FTRL over an online binary tree of --rounds \
            leaves, each phone at most --max-participations times and at least \
            --min-separation rounds apart; `rho` is its zCDP, `epsilon` the RDP conversion \
            (improved, dp_accounting's orders) that the Gboard DP-FTRL figures use, and \
            `epsilon-zcdp` the looser ρ + 2√(ρ log(1/δ)).

            Differentially private n-gram counts (--mechanism counts, what `kbd-sim run \
            --model kn3 --dp-noise z --dp-max-ngrams M` does): each round one phone adds at \
            most M n-grams per order of the --order, each counted at most --max-count times; \
            the summed counts get noise of standard deviation z·c·√(N·M) and are released from \
            --threshold up. --rounds is the number of rounds one phone reports in. `epsilon` \
            composes the Gaussian parts exactly (μ = √rounds / z) and adds the threshold's \
            chance of releasing an n-gram only that phone counted (`threshold delta`).

            Distributed DP under secure aggregation (--mechanism skellam, what `kbd-sim run \
            --secure-aggregation --dp-noise z --dp-clip c` does): each phone clips to --clip c, \
            scales by γ (--scale, or fitted to a --ring-bits ring for --cohort phones as the run \
            fits it), rounds stochastically and adds Skellam noise, so the secure sum carries \
            Sk(μ), μ = z²Δ₂², Δ₂ = γc + √d (d = --dimension), Δ₁ = min(√d·Δ₂, Δ₂²). `epsilon` \
            is Agarwal, Kairouz, Liu 2021's Theorem 3.5 RDP composed over min(--max-participations, \
            --rounds) releases, converted at integer orders; no amplification by sampling. The \
            JSON keys are the table's columns.

            Examples:
              kbd-sim privacy epsilon --rate 0.002 --noise 1 --rounds 2000
              kbd-sim privacy epsilon --rate 0.01 --noise 1.1 --rounds 10000 --delta 1e-5 --json
              kbd-sim privacy epsilon --sampling without-replacement --cohort 6500 --population 3000000 --noise 1 --rounds 2000
              kbd-sim privacy epsilon --sampling none --noise 10 --rounds 100 --delta 1e-5
              kbd-sim privacy epsilon --mechanism tree --noise 7 --rounds 2000 --min-separation 313 --max-participations 6
              kbd-sim privacy epsilon --mechanism counts --noise 1 --max-ngrams 16 --order 3 --rounds 1 --delta 1e-7
              kbd-sim privacy epsilon --mechanism skellam --noise 1 --clip 0.5 --dimension 100000 --cohort 20 --rounds 10 --delta 1e-6
            """
    )

    @OptionGroup var schedule: PrivacyScheduleOptions

    @Option(help: ArgumentHelp("σ: noise standard deviation / clip norm, above 0.", valueName: "σ"))
    var noise: Double

    func validate() throws {
        if !(noise.isFinite && noise > 0) {
            throw ValidationError("--noise must be a finite number above 0 (got \(noise)); typical values are 0.5…10")
        }
        _ = try schedule.schedule()
    }

    func run() throws {
        let plan = try schedule.schedule()
        var document = schedule.common(plan)
        document["noise multiplier"] = noise
        var columns: [String]
        var cells: [String]
        do {
            switch plan {
            case .gaussian(let sampling):
                let pld = try PLDAccountant(
                    sampling: sampling, noiseMultiplier: noise, discretization: schedule.discretization
                ).epsilon(rounds: schedule.rounds, delta: schedule.delta)
                let rdp = try schedule.rdpGuarantee(sampling, noise: noise)
                document["epsilon"] = jsonNumber(pld.epsilon)
                document["epsilon-rdp"] = jsonNumber(rdp.epsilon)
                document["order"] = rdp.order
                document["discretization"] = pld.discretization
                columns = ["epsilon", "epsilon-rdp", "order", "delta", "noise", "rounds", "sampling", "q"]
                cells = [
                    fixed(pld.epsilon), fixed(rdp.epsilon), PrivacyRDPCommand.number(rdp.order),
                    PrivacyRDPCommand.number(schedule.delta), String(format: "%.4g", noise), String(schedule.rounds),
                    PrivacyScheduleOptions.samplingName(sampling), String(format: "%.4g", sampling.rate),
                ]
            case .counts(let counts):
                let r = try counts.account(
                    noiseMultiplier: noise, participations: schedule.rounds, delta: schedule.delta)
                guard let g = r.guarantee else {
                    throw ValidationError(
                        "--threshold \(r.threshold): one phone's own n-grams are released with probability \(r.roundThresholdDelta) a round, which over \(schedule.rounds) rounds uses up δ = \(schedule.delta); raise it or leave it out"
                    )
                }
                Self.fill(&document, r, g)
                columns = ["epsilon", "delta", "noise", "rounds", "threshold", "noise std", "threshold delta"]
                cells = [
                    fixed(g.epsilon), PrivacyRDPCommand.number(schedule.delta), String(format: "%.4g", noise),
                    String(schedule.rounds), String(r.threshold), String(format: "%.4g", r.standardDeviation),
                    String(format: "%.3g", g.thresholdDelta),
                ]
            case .skellam(let c, _, let d, let k, _, _):
                guard let fitted = schedule.skellamScale(noise: noise, plan) else {
                    throw ValidationError(
                        "--ring-bits \(schedule.ringBits) cannot hold the noisy sum of --cohort phones even at γ·c = 1; lower --cohort or --noise, or raise --ring-bits (at most 32)"
                    )
                }
                let g = try SkellamAccountant.epsilon(
                    noiseMultiplier: noise, clip: c, scale: fitted.scale, dimension: d, participations: k,
                    delta: schedule.delta)
                if let t = fitted.threshold { document["threshold"] = t }
                columns = ["epsilon", "order", "delta", "noise", "participations", "scale", "variance", "l1", "l2"]
                cells = [
                    fixed(g.epsilon), PrivacyRDPCommand.number(g.order), PrivacyRDPCommand.number(schedule.delta),
                    String(format: "%.4g", noise), String(k), String(format: "%.6g", fitted.scale),
                    String(format: "%.6g", g.variance), String(format: "%.6g", g.l1Sensitivity),
                    String(format: "%.6g", g.l2Sensitivity),
                ]
                document["epsilon"] = jsonNumber(g.epsilon)
                document["order"] = g.order
                document["noise"] = noise
                document["scale"] = fitted.scale
                document["variance"] = g.variance
                document["l1"] = g.l1Sensitivity
                document["l2"] = g.l2Sensitivity
            case .tree(let b, let k):
                let g = try TreeAccountant(
                    noiseMultiplier: noise, rounds: schedule.rounds, minSeparation: b, maxParticipations: k
                ).epsilon(delta: schedule.delta)
                Self.fill(&document, g)
                columns = ["rho", "epsilon", "order", "epsilon-zcdp", "delta", "noise", "rounds", "separation", "k"]
                cells = [
                    fixed(g.rho), fixed(g.epsilon), PrivacyRDPCommand.number(g.order), fixed(g.zcdpEpsilon),
                    PrivacyRDPCommand.number(schedule.delta), String(format: "%.4g", noise), String(schedule.rounds),
                    String(b), String(k),
                ]
            }
        } catch let error as PrivacyError {
            // Past validate(), only the schedule's size can fail (no grid fits its ε).
            throw ValidationError("--rounds: \(error.message)")
        }
        if schedule.json {
            printJSON(document)
        } else {
            var table = SummaryTable(columns: columns)
            table.append(cells)
            print(table.render())
        }
    }

    static func fill(
        _ document: inout [String: Any], _ r: SparseHistogramAccountant.Counts.Result,
        _ g: SparseHistogramAccountant.Guarantee
    ) {
        document["epsilon"] = jsonNumber(g.epsilon)
        document["threshold"] = r.threshold
        document["noise std"] = r.standardDeviation
        document["round threshold delta"] = r.roundThresholdDelta
        document["threshold delta"] = g.thresholdDelta
        document["gaussian delta"] = g.gaussianDelta
    }

    static func fill(_ document: inout [String: Any], _ g: TreeGuarantee) {
        document["rho"] = g.rho
        document["epsilon"] = jsonNumber(g.epsilon)
        document["order"] = g.order
        document["epsilon-zcdp"] = g.zcdpEpsilon
        document["sensitivity squared"] = g.sensitivitySquared
        document["noise multiplier"] = g.noiseMultiplier
    }
}

/// `kbd-sim privacy noise`: the smallest σ that reaches a target ε.
struct PrivacyNoiseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noise",
        abstract: "The smallest noise multiplier σ whose ε at δ after T rounds is at most --target-epsilon.",
        discussion: """
            Gaussian rounds: ε from the PLD accountant; tree aggregation: ε from the tree's \
            zCDP (as `kbd-sim privacy epsilon`). σ is searched in [0.001, 10000] (doubling or \
            halving from 1, then bisection to a relative 1e-4, 1e-6 for the tree); a target no \
            σ there reaches is a usage error.

            Examples:
              kbd-sim privacy noise --target-epsilon 2 --rate 0.002 --rounds 2000
              kbd-sim privacy noise --target-epsilon 8 --sampling without-replacement --cohort 6500 --population 3000000 --rounds 2000
              kbd-sim privacy noise --target-epsilon 8.9 --mechanism tree --rounds 2000 --min-separation 313 --max-participations 6
              kbd-sim privacy noise --target-epsilon 4 --mechanism counts --max-ngrams 16 --rounds 2 --delta 1e-7
            """
    )

    @OptionGroup var schedule: PrivacyScheduleOptions

    @Option(help: ArgumentHelp("The ε to stay within, above 0.", valueName: "ε"))
    var targetEpsilon: Double

    func validate() throws {
        if !(targetEpsilon.isFinite && targetEpsilon > 0) {
            throw ValidationError(
                "--target-epsilon must be a finite number above 0 (got \(targetEpsilon)); e.g. 2 or 8")
        }
        _ = try schedule.schedule()
    }

    func run() throws {
        let plan = try schedule.schedule()
        var document = schedule.common(plan)
        document["target epsilon"] = targetEpsilon
        if case .skellam = plan {
            throw ValidationError(
                "--mechanism skellam: the noise search is not built; use `kbd-sim privacy epsilon --mechanism skellam` at a few --noise values"
            )
        }
        var columns = ["noise multiplier", "epsilon", "target epsilon", "delta", "rounds"]
        var cells: [String] = []
        do {
            switch plan {
            case .gaussian(let sampling):
                let need = try PLDAccountant.noiseMultiplier(
                    targetEpsilon: targetEpsilon, sampling: sampling, rounds: schedule.rounds, delta: schedule.delta,
                    discretization: schedule.discretization)
                document["noise multiplier"] = need.noiseMultiplier
                document["epsilon"] = need.guarantee.epsilon
                document["discretization"] = need.guarantee.discretization
                cells = [String(format: "%.6g", need.noiseMultiplier), fixed(need.guarantee.epsilon, digits: 6)]
            case .counts(let counts):
                let need = try counts.noiseMultiplier(
                    targetEpsilon: targetEpsilon, participations: schedule.rounds, delta: schedule.delta)
                document["noise multiplier"] = need.noiseMultiplier
                if let g = need.result.guarantee { PrivacyEpsilonCommand.fill(&document, need.result, g) }
                cells = [
                    String(format: "%.6g", need.noiseMultiplier),
                    fixed(need.result.guarantee?.epsilon ?? .infinity, digits: 6),
                ]
            case .skellam:
                break  // refused before the search
            case .tree(let b, let k):
                let g = try TreeAccountant.noiseMultiplier(
                    targetEpsilon: targetEpsilon, rounds: schedule.rounds, minSeparation: b, maxParticipations: k,
                    delta: schedule.delta)
                PrivacyEpsilonCommand.fill(&document, g)
                columns.append("rho")
                cells = [String(format: "%.6g", g.noiseMultiplier), fixed(g.epsilon, digits: 6)]
            }
        } catch {
            // Every other flag was checked in validate(): what fails here is the search for the target.
            throw ValidationError("--target-epsilon: \(error.message)")
        }
        cells += [
            PrivacyRDPCommand.number(targetEpsilon), PrivacyRDPCommand.number(schedule.delta), String(schedule.rounds),
        ]
        if let rho = document["rho"] as? Double { cells.append(fixed(rho)) }
        if schedule.json {
            printJSON(document)
        } else {
            var table = SummaryTable(columns: columns)
            table.append(cells)
            print(table.render())
        }
    }
}

/// `kbd-sim privacy rdp` (the default subcommand, so `kbd-sim privacy --sampling-rate …` still
/// works): the RDP (ε, δ) of a DP-FedAvg schedule, or the noise it needs.
struct PrivacyRDPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdp",
        abstract: "Account the (ε, δ) of Poisson-sampled Gaussian rounds (RDP), or the noise a target ε needs.",
        discussion: """
            Each round, the server sums the clipped updates of the phones that took part and \
            adds Gaussian noise of standard deviation σ × clip norm (σ is --noise-multiplier). \
            The accountant bounds the Rényi DP of one such round (Mironov, Talwar, Zhang 2019), \
            composes it over --rounds, and converts it to (ε, δ), as Google's dp_accounting \
            computes it (RdpAccountant, PoissonSampledDpEvent, add-or-remove-one neighbours, its \
            156 default orders).

            What the figure assumes:
              - Poisson sampling: each phone takes part in each round independently with \
            probability q (--sampling-rate, or q = --cohort / --devices). A fleet that selects \
            phones by availability (charging, idle, on Wi-Fi), or takes a fixed-size cohort \
            from whoever checks in, does not guarantee this: the figure is then what the \
            schedule would give under Poisson sampling, not a proof about that fleet.
              - User level: the figure protects a user when each phone is one user and the \
            phone's whole update for the round (all its local steps) is clipped to the clip \
            norm before the noise is added; if one user has several phones, or an update is \
            not clipped as a whole, it is not user-level.
              - The noise is added by a trusted server (or a secure sum) on the sum of the \
            clipped updates, and nothing else about the updates is released.

            δ defaults to 1e-10, the δ production keyboards report (e.g. Gboard's DP \
            next-word models); keep it well below 1 / (number of users). The conversion \
            defaults to the improved bound of Canonne, Kamath, Steinke 2020 (what \
            dp_accounting uses); --conversion classic gives Mironov 2017's \
            ε = T·ε(α) + log(1/δ)/(α − 1). `order` is the RDP order that gave the minimum. \
            Details: docs/privacy.md.

            Examples:
              kbd-sim privacy --cohort 6500 --devices 3000000 --noise-multiplier 1 --rounds 2000
              kbd-sim privacy --sampling-rate 0.01 --noise-multiplier 1.1 --rounds 10000 --delta 1e-5
              kbd-sim privacy --cohort 6500 --devices 3000000 --rounds 2000 --target-epsilon 2
              kbd-sim privacy --sampling-rate 0.002 --noise-multiplier 0.8 --rounds 2000 --json
            """
    )

    @Option(help: ArgumentHelp("Phones per round K; q = K / --devices.", valueName: "K"))
    var cohort: Int?

    @Option(help: ArgumentHelp("Phones in the population N (with --cohort).", valueName: "N"))
    var devices: Int?

    @Option(help: ArgumentHelp("Probability q in [0, 1] that a phone takes part in a round.", valueName: "q"))
    var samplingRate: Double?

    @Option(help: ArgumentHelp("σ: noise standard deviation / clip norm, above 0.", valueName: "σ"))
    var noiseMultiplier: Double?

    @Option(
        help: ArgumentHelp("Instead of --noise-multiplier: print the smallest σ that gives this ε.", valueName: "ε"))
    var targetEpsilon: Double?

    @Option(help: ArgumentHelp("Training rounds T (compositions), 0 or more.", valueName: "T"))
    var rounds: Int

    @Option(help: ArgumentHelp("δ, in (0, 1); 1e-10 is what production keyboards report.", valueName: "δ"))
    var delta: Double = 1e-10

    @Option(help: "RDP → (ε, δ) conversion: improved (Canonne et al. 2020, dp_accounting) or classic (Mironov 2017).")
    var conversion: String = Conversion.improved.rawValue

    @Option(
        help: ArgumentHelp(
            "Fractional orders' series: dp-accounting (|C(α,k)|, an upper bound) or exact (signed).",
            valueName: "series"))
    var fractionalSeries: String = FractionalSeries.dpAccounting.rawValue

    @Option(
        help: ArgumentHelp(
            "RDP orders, comma-separated (each above 1), 'default' (dp_accounting's) or 'legacy' (1.25 … 1024).",
            valueName: "list"))
    var orders: String = "default"

    @Flag(help: "Print one JSON document (keys as the table's columns) instead of the table.")
    var json = false

    func validate() throws {
        _ = try samplingRateValue()
        if let noiseMultiplier, !(noiseMultiplier.isFinite && noiseMultiplier > 0) {
            throw ValidationError(
                "--noise-multiplier must be a finite number above 0 (got \(noiseMultiplier)); typical values are 0.5…5")
        }
        if let targetEpsilon, !(targetEpsilon.isFinite && targetEpsilon > 0) {
            throw ValidationError(
                "--target-epsilon must be a finite number above 0 (got \(targetEpsilon)); e.g. 2 or 8")
        }
        switch (noiseMultiplier, targetEpsilon) {
        case (nil, nil):
            throw ValidationError(
                "pass --noise-multiplier σ for the ε it gives, or --target-epsilon ε for the σ it needs")
        case (.some, .some):
            throw ValidationError("--noise-multiplier and --target-epsilon exclude each other; pass one")
        default: break
        }
        if rounds < 0 { throw ValidationError("--rounds must be 0 or more (got \(rounds))") }
        if targetEpsilon != nil && rounds == 0 {
            throw ValidationError("--rounds must be at least 1 with --target-epsilon (0 rounds release nothing)")
        }
        if !(delta.isFinite && delta > 0 && delta < 1) {
            throw ValidationError(
                "--delta must be a finite number strictly between 0 and 1 (got \(delta)); the default is 1e-10")
        }
        _ = try conversionValue()
        _ = try accountant()
    }

    func samplingRateValue() throws -> Double {
        switch (samplingRate, cohort, devices) {
        case (let q?, nil, nil):
            guard q.isFinite, q >= 0, q <= 1 else {
                throw ValidationError("--sampling-rate must be a finite number in [0, 1] (got \(q))")
            }
            return q
        case (nil, let k?, let n?):
            guard n >= 1 else { throw ValidationError("--devices must be at least 1 (got \(n))") }
            guard k >= 0, k <= n else {
                throw ValidationError("--cohort must be in 0…--devices (got \(k) of \(n))")
            }
            return Double(k) / Double(n)
        case (nil, .some, nil): throw ValidationError("--cohort needs --devices (q = cohort / devices)")
        case (nil, nil, .some): throw ValidationError("--devices needs --cohort (q = cohort / devices)")
        case (nil, nil, nil):
            throw ValidationError("pass --sampling-rate q, or --cohort K with --devices N (q = K / N)")
        default:
            throw ValidationError("--sampling-rate excludes --cohort and --devices; pass one or the other")
        }
    }

    func conversionValue() throws -> Conversion {
        guard let value = Conversion(rawValue: conversion) else {
            throw ValidationError("--conversion must be improved or classic (got \(conversion))")
        }
        return value
    }

    func accountant() throws -> RDPAccountant {
        guard let series = FractionalSeries(rawValue: fractionalSeries) else {
            throw ValidationError("--fractional-series must be dp-accounting or exact (got \(fractionalSeries))")
        }
        let list: [Double]
        switch orders {
        case "default": list = RDPAccountant.defaultOrders
        case "legacy": list = RDPAccountant.legacyOrders
        default:
            let parts = orders.split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, values.allSatisfy({ $0.map { $0.isFinite && $0 > 1 } ?? false }) else {
                throw ValidationError(
                    "--orders must be 'default', 'legacy' or numbers above 1 separated by commas (got \(orders))")
            }
            list = values.compactMap { $0 }
        }
        do {
            return try RDPAccountant(orders: list, fractionalSeries: series)
        } catch {
            throw ValidationError("--orders: \(error.message)")
        }
    }

    func run() throws {
        let q = try samplingRateValue()
        let conversion = try conversionValue()
        let accountant = try accountant()
        let guarantee: PrivacyGuarantee
        do {
            if let targetEpsilon {
                guarantee =
                    try accountant.noiseMultiplier(
                        targetEpsilon: targetEpsilon, samplingRate: q, rounds: rounds, delta: delta,
                        conversion: conversion
                    ).guarantee
            } else {
                guarantee = try accountant.epsilon(
                    samplingRate: q, noiseMultiplier: noiseMultiplier ?? 0, rounds: rounds, delta: delta,
                    conversion: conversion)
            }
        } catch {
            throw ValidationError(error.message)
        }
        var columns = ["epsilon", "delta", "order", "q", "noise multiplier", "rounds"]
        var cells = [
            // Rounded for reading; --json carries every digit.
            String(format: "%.4f", guarantee.epsilon), Self.number(guarantee.delta), Self.number(guarantee.order),
            String(format: "%.4g", q), String(format: "%.4g", guarantee.noiseMultiplier), String(rounds),
        ]
        if let targetEpsilon {
            columns.append("target epsilon")
            cells.append(Self.number(targetEpsilon))
        }
        if json {
            var document: [String: Any] = [
                "epsilon": guarantee.epsilon, "delta": guarantee.delta, "order": guarantee.order, "q": q,
                "noise multiplier": guarantee.noiseMultiplier, "rounds": rounds,
                "conversion": conversion.rawValue, "fractional series": accountant.fractionalSeries.rawValue,
                "sampling": "poisson",
            ]
            if let targetEpsilon { document["target epsilon"] = targetEpsilon }
            if let cohort, let devices {
                document["cohort"] = cohort
                document["devices"] = devices
            }
            printJSON(document)
        } else {
            var table = SummaryTable(columns: columns)
            table.append(cells)
            print(table.render())
            print("")
            let sampled = cohort.map { "\(grouped($0)) of \(grouped(devices ?? 0)) phones, " } ?? ""
            print(
                "(ε, δ) for \(sampled)each phone in each round independently with probability q (Poisson sampling), "
                    + "its whole update clipped; \(conversion.rawValue) RDP conversion. See kbd-sim privacy --help.")
        }
    }

    /// Shortest text that reads back as the same Double, in plain or e-notation.
    static func number(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }
}
