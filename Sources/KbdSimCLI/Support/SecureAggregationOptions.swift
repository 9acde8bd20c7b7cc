import ArgumentParser
import FederationProtocol
internal import Foundation

/// `kbd-sim run`'s secure-aggregation flags, and how its costs appear in the run's output.
struct SecureAggregationOptions: ParsableArguments {
    @Flag(
        name: .long,
        help: ArgumentHelp(
            "Aggregate with SecAgg+ (in process or over --server): phones clip to the codec's clip C, quantize to its b bits on the shared grid [-C, C] and mask; the server sees only the sum. Needs a neural model and --codec clip=C,qBs (no rot, no z). With --dp-noise z --dp-clip c: distributed DP instead (the phones clip to c, round and add Skellam noise before masking; the codec is not used). Example: kbd-sim run --model cifg-small --codec clip=0.5,q8s --secure-aggregation"
        ))
    var secureAggregation = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --secure-aggregation: the chance a phone's connection fails in each gap between two protocol stages (seeded per phone, round and gap), in [0, 1) (default 0.05); on top of it, a phone that stops being eligible in a gap (unplugged, off Wi-Fi, picked up) drops out there.",
            valueName: "p"))
    var secaggDropout: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --secure-aggregation: the virtual seconds from one protocol stage to the next, 1…3600 (default 60); the stages start when the round's reporting closes.",
            valueName: "s"))
    var secaggStageSeconds: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --secure-aggregation and --dp-noise (distributed DP): the widest ring m, 2…32 (default 32), that the phones' scale γ is fitted to.",
            valueName: "m"))
    var secaggRingBits: Int?

    func validate() throws {
        if secaggDropout != nil, !secureAggregation {
            throw ValidationError("--secagg-dropout needs --secure-aggregation (it is the dropout between its stages)")
        }
        if secaggStageSeconds != nil, !secureAggregation {
            throw ValidationError(
                "--secagg-stage-seconds needs --secure-aggregation (it is the time between its stages)")
        }
        if secaggRingBits != nil, !secureAggregation {
            throw ValidationError(
                "--secagg-ring-bits needs --secure-aggregation and --dp-noise (it is the ring of distributed DP)")
        }
    }

    /// Sets the secure-aggregation settings of `c` (checked by the configuration's validation).
    /// With DP settings the mechanism becomes distributed DP (``PrivacyConfiguration/Mechanism/skellam``)
    /// unless another one was asked for (which the validation refuses, naming --dp-mechanism).
    func apply(to c: inout RunConfiguration) {
        guard secureAggregation else { return }
        var settings = SecureAggregationSettings()
        if let secaggDropout { settings.stageDropout = secaggDropout }
        if let secaggStageSeconds { settings.stageSeconds = secaggStageSeconds }
        settings.ringBits = secaggRingBits
        c.secureAggregation = settings
        if c.privacy?.mechanism == .gaussian { c.privacy?.mechanism = .skellam }
    }

    /// The round's secure-aggregation figures under `secagg …` keys of `--json`.
    static func addFigures(_ summary: RoundSummary, to row: inout [String: Any]) {
        guard let s = summary.secureAggregation else { return }
        row["secagg"] = s.summation
        row["secagg cohort"] = s.cohort
        row["secagg k"] = s.neighbours
        row["secagg t"] = s.threshold
        row["secagg ring bits"] = s.ringBits
        row["secagg contributors"] = s.contributors
        row["secagg dropped"] = s.droppedBetweenStages
        if let unplugged = s.unplugged { row["secagg unplugged"] = unplugged }
        row["secagg recovered"] = s.recovered
        row["secagg refused"] = s.refused
        row["secagg bytes up per phone"] = s.bytesUpPerPhone
        row["secagg bytes down per phone"] = s.bytesDownPerPhone
        row["secagg phone ms"] = s.phoneMilliseconds
        row["secagg server ms"] = s.serverMilliseconds
        if let reason = s.abandoned { row["secagg abandoned"] = reason }
        row["secagg stages"] = s.stages.map { stage -> [String: Any] in
            [
                "stage": stage.stage, "phones": stage.phones, "bytes up per phone": stage.bytesUpPerPhone,
                "bytes down per phone": stage.bytesDownPerPhone, "phone ms": stage.phoneMilliseconds,
                "server ms": stage.serverMilliseconds,
            ]
        }
    }

    /// The run's totals under `secagg …` keys of `--json`'s summary.
    static func addTotals(_ summaries: [RoundSummary], to summary: inout [String: Any]) {
        let reports = summaries.compactMap(\.secureAggregation)
        guard !reports.isEmpty else { return }
        let n = Double(reports.count)
        summary["secagg"] = reports[0].summation
        summary["secagg recovered"] = reports.reduce(0) { $0 + $1.recovered }
        summary["secagg dropped"] = reports.reduce(0) { $0 + $1.droppedBetweenStages }
        summary["secagg unplugged"] = reports.reduce(0) { $0 + ($1.unplugged ?? 0) }
        summary["secagg abandoned rounds"] = reports.filter { $0.abandoned != nil }.count
        summary["secagg bytes up per phone"] = reports.reduce(0) { $0 + $1.bytesUpPerPhone } / n
        summary["secagg bytes down per phone"] = reports.reduce(0) { $0 + $1.bytesDownPerPhone } / n
        summary["secagg phone ms"] = reports.reduce(0) { $0 + $1.phoneMilliseconds } / n
        summary["secagg server ms"] = reports.reduce(0) { $0 + $1.serverMilliseconds } / n
    }

    /// The per-round table of the protocol's costs (nothing when the run does not use it).
    static func table(_ rounds: [(round: Int, summary: RoundSummary)]) -> String? {
        let rows = rounds.compactMap { r in r.summary.secureAggregation.map { (r.round, $0) } }
        guard !rows.isEmpty else { return nil }
        var table = SummaryTable(columns: [
            "round", "secagg", "K", "k", "t", "m", "in sum", "dropped", "unplugged", "recovered", "KB up/phone",
            "KB down/phone",
            "phone ms", "server ms", "outcome",
        ])
        for (round, s) in rows {
            table.append([
                String(round), s.summation, String(s.cohort), String(s.neighbours), String(s.threshold),
                String(s.ringBits), String(s.contributors), String(s.droppedBetweenStages),
                s.unplugged.map(String.init) ?? "", String(s.recovered),
                fixed(s.bytesUpPerPhone / 1e3, digits: 1), fixed(s.bytesDownPerPhone / 1e3, digits: 1),
                fixed(s.phoneMilliseconds, digits: 1), fixed(s.serverMilliseconds, digits: 1),
                s.abandoned == nil ? "summed" : "abandoned",
            ])
        }
        return table.render()
    }
}
