import ArgumentParser
import Foundation
import Privacy

/// `kbd-sim privacy`: the user-level (ε, δ) of a DP-FedAvg schedule, or the noise it needs.
struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
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
