import RunStore

/// The report's five charts, built from its runs.
struct ReportCharts {
    /// A chart with its heading and a sentence saying how to read it.
    struct Chart {
        var id: String
        var heading: String
        var caption: String
        var svg: String
    }

    let runs: [ReportedRun]
    /// Legend entries name each run's corpus (runs on different corpora).
    let showsCorpus: Bool

    private func colour(_ index: Int) -> String { Palette.colour(index) }

    /// Line width of the `index`-th run: the first is widest, so identical lines of later
    /// runs drawn on top leave each earlier one visible as a coloured edge.
    private func lineWidth(_ index: Int) -> Double { 2 + 1.5 * Double(min(runs.count - 1 - index, 4)) }

    private func runEntry(
        _ index: Int, _ run: ReportedRun, note: String? = nil, sample: LegendEntry.Sample = .line(.solid)
    ) -> LegendEntry {
        var label = run.label(showingCorpus: showsCorpus)
        if let note { label += " — " + note }
        return LegendEntry(label: label, colour: colour(index), sample: sample)
    }

    private func styleKey(_ label: String, _ dash: LineDash) -> LegendEntry {
        LegendEntry(label: label, colour: Palette.ink, sample: .line(dash))
    }

    private func percent(_ fraction: Double) -> String { NumberText.fixed(fraction * 100, decimals: 2) + " %" }

    /// A run's acc@1 (solid) and acc@3 (dashed) lines, in percent, at the given x positions;
    /// `where` names a point's x in its tooltip (e.g. `round 5`).
    private func accuracySeries(
        _ index: Int, _ run: ReportedRun, points: [(x: Double, e: EvaluationRecord)],
        where: @escaping (Double) -> String
    ) -> [LineChart.Series] {
        [("acc@1", LineDash.solid, \EvaluationRecord.acc1), ("acc@3", .dashed, \EvaluationRecord.acc3)].map {
            name, dash, metric in
            LineChart.Series(
                colour: colour(index), dash: dash, width: lineWidth(index),
                points: points.map { ($0.x, $0.e[keyPath: metric] * 100) }
            ) { x, y in
                "run \(run.id), \(`where`(x)): \(name) \(NumberText.fixed(y, decimals: 2)) %"
            }
        }
    }

    /// Runs with the same fleet and seed select the same devices, so their lines coincide.
    static let overlapNote =
        "Where runs have identical figures their lines coincide; earlier runs are drawn wider underneath."

    var all: [Chart] { [accuracyByRound, accuracyByUpload, participationByLocalHour, dropoutsByRound, cohortsByRound] }

    /// h., after the configurations (f) and the upload comparison (g): only when a run has DP.
    var privacy: Chart? { runs.contains { !$0.epsilonByRound.isEmpty } ? accuracyByEpsilon : nil }

    /// i.: only when a run has a backdoor target.
    var backdoor: Chart? { runs.contains { !$0.backdoorEvaluations.isEmpty } ? backdoorByRound : nil }

    /// j.: only when a run has per-user figures.
    var perUser: Chart? { runs.contains { $0.finalUserAccuracy != nil } ? userAccuracyCDF : nil }

    /// j. The distribution of per-user acc@1 at each run's last evaluation (solid: the global
    /// model; dashed: after on-phone personalization), as a cumulative share of users.
    var userAccuracyCDF: Chart {
        var chart = LineChart(
            id: "user-accuracy-cdf", title: "Per-user accuracy at the last evaluation",
            xTitle: "a user's acc@1 (% of their predictions, nwp-v1)", yTitle: "evaluation users at or below it (%)",
            emptyNote: "no run with per-user figures")
        for (i, run) in runs.enumerated() {
            guard let u = run.finalUserAccuracy else {
                chart.legend.append(runEntry(i, run, note: "no per-user figures"))
                continue
            }
            for (name, dash, values) in [
                ("global", LineDash.solid, u.global), ("personalized", .dashed, u.personalized),
            ]
            where !values.isEmpty {
                let n = Double(values.count)
                chart.series.append(
                    LineChart.Series(
                        colour: colour(i), dash: dash, width: lineWidth(i),
                        points: values.enumerated().map { (x: $1 * 100, y: Double($0 + 1) / n * 100) }
                    ) { x, y in
                        "run \(run.id), round \(u.round), \(name): \(NumberText.fixed(y, decimals: 1)) % of users at or below acc@1 \(NumberText.fixed(x, decimals: 2)) %"
                    })
            }
            chart.legend.append(runEntry(i, run, note: nil))
        }
        chart.legend += [
            styleKey("solid: global model", .solid), styleKey("dashed: personalized on the phone", .dashed),
        ]
        return Chart(
            id: chart.id, heading: "j. Who the model fails: per-user accuracy",
            caption:
                "Each evaluation user's own acc@1 at the run's last evaluation, as a cumulative share of users: the further left a curve starts, the worse the model serves its worst users. Dashed: the same users after the phone fine-tuned the model on their earlier text (scored on their later text).",
            svg: chart.svg())
    }

    /// i. backdoor@1 (solid) and backdoor@3 (dashed) by round.
    var backdoorByRound: Chart {
        var chart = LineChart(
            id: "backdoor-by-round", title: "Backdoor success by round", xTitle: "round",
            yTitle: "trigger contexts whose suggestion is the target (%)", xIntegral: true,
            emptyNote: "no run with a backdoor target")
        for (i, run) in runs.enumerated() {
            let points = run.backdoorEvaluations
            for (name, dash, value) in [
                ("backdoor@1", LineDash.solid, \BackdoorEvaluationRecord.at1),
                ("backdoor@3", .dashed, \BackdoorEvaluationRecord.at3),
            ] {
                chart.series.append(
                    LineChart.Series(
                        colour: colour(i), dash: dash, width: lineWidth(i),
                        points: points.map { (Double($0.round), $0[keyPath: value] * 100) }
                    ) { x, y in "run \(run.id), round \(Int(x)): \(name) \(NumberText.fixed(y, decimals: 2)) %" })
            }
            chart.legend.append(runEntry(i, run, note: points.isEmpty ? "no backdoor target" : nil))
        }
        chart.legend += [styleKey("solid: backdoor@1", .solid), styleKey("dashed: backdoor@3", .dashed)]
        return Chart(
            id: chart.id, heading: "i. Backdoor success by round",
            caption:
                "The share of held-out trigger contexts where the attacker's target word is the top suggestion (backdoor@1) or among the top three (backdoor@3), at each evaluated round. Read it beside chart a: a backdoor that costs no accuracy shows only here.",
            svg: chart.svg())
    }

    /// h. acc@1 and acc@3 against the privacy spent so far (runs with DP only).
    var accuracyByEpsilon: Chart {
        var chart = LineChart(
            id: "accuracy-by-epsilon", title: "Accuracy against privacy spent",
            xTitle: "ε after the round (user level, at the run's δ)", yTitle: "accuracy (% of predictions, nwp-v1)",
            emptyNote: "no run with differential privacy")
        for (i, run) in runs.enumerated() {
            let e = run.serverEvaluations.compactMap { e in run.epsilonByRound[e.round].map { (x: $0, e: e) } }
            chart.series += accuracySeries(i, run, points: e) { "ε \(NumberText.fixed($0, decimals: 3))" }
            chart.legend.append(runEntry(i, run, note: run.epsilonByRound.isEmpty ? "no differential privacy" : nil))
        }
        chart.legend += [styleKey("solid: acc@1", .solid), styleKey("dashed: acc@3", .dashed)]
        return Chart(
            id: chart.id, heading: "h. Accuracy against privacy",
            caption:
                "Each private run's evaluations against the ε its users had after that round, as the run's accounting computed it (kbd-sim runs show ID says what it assumes). Further right is less private.",
            svg: chart.svg())
    }

    /// a. acc@1 (solid) and acc@3 (dashed) by round.
    var accuracyByRound: Chart {
        var chart = LineChart(
            id: "accuracy-by-round", title: "Accuracy by round", xTitle: "round",
            yTitle: "accuracy (% of predictions, nwp-v1)", xIntegral: true, emptyNote: "no evaluation recorded yet")
        for (i, run) in runs.enumerated() {
            let e = run.serverEvaluations
            chart.series += accuracySeries(i, run, points: e.map { (Double($0.round), $0) }) { "round \(Int($0))" }
            chart.legend.append(runEntry(i, run, note: e.isEmpty ? "no evaluation yet" : nil))
        }
        chart.legend += [styleKey("solid: acc@1", .solid), styleKey("dashed: acc@3", .dashed)]
        return Chart(
            id: chart.id, heading: "a. Accuracy by round",
            caption:
                "Server evaluation on the held-out evaluation users (nwp-v1, user split) after each evaluated round. \(Self.overlapNote)",
            svg: chart.svg())
    }

    /// b. acc@1 and acc@3 by cumulative upload volume.
    var accuracyByUpload: Chart {
        var chart = LineChart(
            id: "accuracy-by-upload", title: "Accuracy by cumulative upload volume",
            xTitle: "uploaded MB, cumulative (1 MB = 10⁶ bytes of encoded updates)",
            yTitle: "accuracy (% of predictions, nwp-v1)", emptyNote: "no evaluation recorded yet")
        for (i, run) in runs.enumerated() {
            let megabytes = run.cumulativeMegabytesUp
            let e = run.serverEvaluations.compactMap { e in megabytes[e.round].map { (mb: $0, e: e) } }
            chart.series += accuracySeries(i, run, points: e.map { ($0.mb, $0.e) }) {
                "\(NumberText.fixed($0, decimals: 3)) MB"
            }
            chart.legend.append(
                runEntry(
                    i, run,
                    note: e.isEmpty
                        ? "no evaluation yet"
                        : "\(NumberText.fixed(Double(run.bytesUp) / 1e6, decimals: 3)) MB up in all"))
        }
        chart.legend += [styleKey("solid: acc@1", .solid), styleKey("dashed: acc@3", .dashed)]
        return Chart(
            id: chart.id, heading: "b. Accuracy by upload volume",
            caption:
                "The same evaluations against the update bytes the server received up to that round (on the wire, after the codec).",
            svg: chart.svg())
    }

    /// c. Reporting devices by local hour of day.
    var participationByLocalHour: Chart {
        var chart = GroupedBarChart(
            id: "participation-by-local-hour", title: "Reporting devices by local hour of day",
            categories: (0..<24).map(String.init), xTitle: "local hour of day on the device when it reported (0–23)",
            yTitle: "reporting devices (count, all rounds)", emptyNote: "local hours not recorded for these runs")
        for (i, run) in runs.enumerated() {
            let totals = run.localHourTotals
            chart.groups.append(
                .init(colour: colour(i), values: totals.map { $0.map(Double.init) }) { hour, value in
                    "run \(run.id), local hour \(hour): \(Int(value)) reports"
                })
            let note: String
            if totals == nil {
                note = "not recorded (rounds committed before schema v3)"
            } else {
                let recorded = run.roundsWithLocalHours
                let sum = totals?.reduce(0, +) ?? 0
                note =
                    recorded == run.rounds.count
                    ? "\(sum) reports in \(recorded) rounds"
                    : "\(sum) reports in the \(recorded) of \(run.rounds.count) rounds that recorded local hours; the others: not recorded"
            }
            chart.legend.append(runEntry(i, run, note: note, sample: .bar))
        }
        return Chart(
            id: chart.id, heading: "c. Participation by local hour",
            caption:
                "Devices train only while charging, on Wi-Fi and idle, so reports cluster in the devices' local night.",
            svg: chart.svg())
    }

    /// d. Dropouts (solid) and stragglers (dashed) by round, abandoned rounds marked.
    var dropoutsByRound: Chart {
        var chart = LineChart(
            id: "dropouts-by-round", title: "Dropouts and stragglers by round", xTitle: "round",
            yTitle: "devices (count per round)", xIntegral: true, yIntegral: true, emptyNote: "no round committed yet")
        for (i, run) in runs.enumerated() {
            chart.series.append(
                .init(
                    colour: colour(i), dash: .solid, width: lineWidth(i),
                    points: run.rounds.map { (Double($0.number), Double($0.dropped)) }
                ) { x, y in
                    "run \(run.id), round \(Int(x)): \(Int(y)) dropped out"
                })
            chart.series.append(
                .init(
                    colour: colour(i), dash: .dashed, width: lineWidth(i),
                    points: run.rounds.map { (Double($0.number), Double($0.stragglers)) }
                ) { x, y in
                    "run \(run.id), round \(Int(x)): \(Int(y)) stragglers"
                })
            for round in run.abandonedRounds {
                chart.markers.append(
                    .init(
                        x: Double(round), row: i, colour: colour(i), symbol: "✕",
                        tooltip: "run \(run.id): round \(round) abandoned"))
            }
            let abandoned = run.abandonedRounds.count
            chart.legend.append(
                runEntry(
                    i, run,
                    note: abandoned == 0
                        ? "no abandoned round" : "\(abandoned) abandoned round\(abandoned == 1 ? "" : "s")"))
        }
        chart.legend += [
            styleKey("solid: dropped out (stopped being eligible before reporting)", .solid),
            styleKey("dashed: stragglers (reported after the deadline)", .dashed),
            LegendEntry(
                label:
                    "above the plot, one row per run: an abandoned round (too few reports; the model did not change)",
                colour: Palette.ink, sample: .marker("✕")),
        ]
        return Chart(
            id: chart.id, heading: "d. Dropouts and stragglers by round",
            caption: "Selected devices that did not report in time. \(Self.overlapNote)", svg: chart.svg())
    }

    /// e. Cohort sizes by round: selected (solid), reported (dashed), surplus (dotted).
    var cohortsByRound: Chart {
        var chart = LineChart(
            id: "cohorts-by-round", title: "Cohort sizes by round", xTitle: "round",
            yTitle: "devices (count per round)",
            xIntegral: true, yIntegral: true, emptyNote: "no round committed yet")
        for (i, run) in runs.enumerated() {
            let series: [(LineDash, String, KeyPath<RoundRecord, Int>)] = [
                (.solid, "selected", \.selected), (.dashed, "reported", \.reported), (.dotted, "surplus", \.surplus),
            ]
            for (dash, name, path) in series {
                chart.series.append(
                    .init(
                        colour: colour(i), dash: dash, width: lineWidth(i),
                        points: run.rounds.map { (Double($0.number), Double($0[keyPath: path])) }
                    ) { x, y in
                        "run \(run.id), round \(Int(x)): \(Int(y)) \(name)"
                    })
            }
            chart.legend.append(runEntry(i, run))
        }
        chart.legend += [
            styleKey("solid: selected (with over-selection)", .solid),
            styleKey("dashed: reported (aggregated)", .dashed),
            styleKey("dotted: surplus (finished after the cohort was full, discarded)", .dotted),
        ]
        return Chart(
            id: chart.id, heading: "e. Cohort sizes by round",
            caption: "How many devices each round selected, aggregated and turned away. \(Self.overlapNote)",
            svg: chart.svg())
    }
}
