public import Foundation
import RunStore

/// A self-contained HTML report on one or more runs: inline CSS and SVG charts, nothing
/// fetched from the network, every piece of text escaped.
public struct ReportDocument: Sendable {
    /// The runs, in the order given.
    public let runs: [ReportedRun]
    /// The store they come from (shown in the header).
    public let storePath: String
    /// When the report was made (shown in the header, UTC).
    public let generatedAt: Date
    /// The kbd-sim version that made it.
    public let toolVersion: String
    /// The bits-against-accuracy table, when the caller knows the runs' model sizes.
    public let uploadComparison: UploadComparison?

    /// A report on `runs` (at least one), read from the store at `storePath`.
    ///
    /// - Parameters:
    ///   - generatedAt: the time printed in the header (UTC).
    ///   - toolVersion: the kbd-sim version printed in the header.
    ///   - modelSizes: per run id, the model's parameter count and float32 update size, for the
    ///     bits-against-accuracy table (runs without one are left out of it).
    public init(
        runs: [ReportedRun], storePath: String, generatedAt: Date, toolVersion: String,
        modelSizes: [Int64: UploadComparison.ModelSize] = [:]
    ) {
        precondition(!runs.isEmpty, "a report needs at least one run")
        uploadComparison = UploadComparison(runs: runs, sizes: modelSizes)
        self.runs = runs
        self.storePath = storePath
        self.generatedAt = generatedAt
        self.toolVersion = toolVersion
    }

    /// Whether the runs were trained on different corpora (the report then carries a banner
    /// and names the corpus in every legend entry).
    public var hasMixedCorpora: Bool { Set(runs.map(\.record.corpus)).count > 1 }

    /// The headings of the charts, in order.
    public var chartHeadings: [String] {
        (charts.all + [charts.privacy, charts.backdoor, charts.perUser].compactMap { $0 }).map(\.heading)
    }

    private var charts: ReportCharts { ReportCharts(runs: runs, showsCorpus: hasMixedCorpora) }

    /// The whole HTML document.
    public var html: String {
        let ids = runs.map { String($0.id) }.joined(separator: ", ")
        let stamp = ISO8601DateFormatter().string(from: generatedAt)
        var body = """
            <header>
            <h1>kbd-sim report: run\(runs.count == 1 ? "" : "s") \(ids.escapedForMarkup)</h1>
            <p class="meta">Generated \(stamp.escapedForMarkup) by kbd-sim \(toolVersion.escapedForMarkup) from the run store <code>\(storePath.escapedForMarkup)</code>.</p>
            </header>

            """
        if hasMixedCorpora {
            let listing = runs.map { "run \($0.id): \($0.record.corpus)" }.joined(separator: "; ")
            body +=
                "<p class=\"banner\" role=\"alert\"><strong>runs on different corpora: \(listing.escapedForMarkup)</strong> — their accuracies are not directly comparable.</p>\n"
        }
        func section(_ chart: ReportCharts.Chart) -> String {
            """
            <section class="chart" id="section-\(chart.id.escapedForMarkup)">
            <h2>\(chart.heading.escapedForMarkup)</h2>
            <p class="caption">\(chart.caption.escapedForMarkup)</p>
            \(chart.svg)
            </section>

            """
        }
        for chart in charts.all { body += section(chart) }
        body += configurationTable
        if let uploadComparison { body += uploadComparison.html }
        if let privacy = charts.privacy { body += section(privacy) }
        if let backdoor = charts.backdoor { body += section(backdoor) }
        if let perUser = charts.perUser { body += section(perUser) }
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>kbd-sim report: runs \(ids.escapedForMarkup)</title>
            <style>\(Self.css)</style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    /// f. Every run's configuration and outcome, one column per run.
    private var configurationTable: String {
        var rows: [(String, [String])] = []
        func row(_ name: String, _ value: (ReportedRun) -> String) { rows.append((name, runs.map(value))) }
        func megabytes(_ bytes: Int64) -> String { NumberText.fixed(Double(bytes) / 1e6, decimals: 3) }
        row("corpus") { $0.record.corpus }
        row("model") { $0.record.model }
        row("codec (stored)") {
            $0.isNGram ? "\($0.record.codec) (unused: n-gram runs upload counts)" : $0.record.codec
        }
        row("seed") { String($0.record.seed) }
        row("status") { $0.record.status.rawValue }
        row("created") { $0.record.createdAt }
        row("rounds committed") { run in "\(run.rounds.count) of \(run.plannedRounds.map(String.init) ?? "?")" }
        row("abandoned rounds") { run in
            run.abandonedRounds.isEmpty ? "none" : run.abandonedRounds.map(String.init).joined(separator: ", ")
        }
        row("final acc@1") { run in
            run.finalEvaluation.map { "\(NumberText.fixed($0.acc1, decimals: 4)) (round \($0.round))" }
                ?? "no evaluation yet"
        }
        row("final acc@3") { run in
            run.finalEvaluation.map { "\(NumberText.fixed($0.acc3, decimals: 4)) (round \($0.round))" }
                ?? "no evaluation yet"
        }
        row("total MB up") { megabytes($0.bytesUp) }
        row("total MB down") { megabytes($0.bytesDown) }
        row("reports aggregated") { String($0.reportedDevices) }
        row("local hours recorded") { "\($0.roundsWithLocalHours) of \($0.rounds.count) rounds" }
        let keys = Set(runs.flatMap { $0.configurationFields.map(\.key) }).sorted()
        for key in keys {
            row("config: " + key) { run in run.configurationFields.first { $0.key == key }?.value ?? "—" }
        }
        var html = """
            <section class="configuration" id="section-configuration">
            <h2>f. Run configurations</h2>
            <p class="caption">Outcome figures, then every field of the configuration stored with each run (MB = 10⁶ bytes; accuracies are fractions).</p>
            <table>
            <thead><tr><th scope="col">field</th>
            """
        for (i, run) in runs.enumerated() {
            html +=
                "<th scope=\"col\"><span class=\"swatch\" style=\"background:\(Palette.colour(i))\"></span>run \(run.id)</th>"
        }
        html += "</tr></thead>\n<tbody>\n"
        for (name, values) in rows {
            html += "<tr><th scope=\"row\">\(name.escapedForMarkup)</th>"
            html += values.map { "<td>\($0.escapedForMarkup)</td>" }.joined()
            html += "</tr>\n"
        }
        return html + "</tbody>\n</table>\n</section>\n"
    }

    private static let css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#222;margin:24px auto;max-width:1000px;padding:0 16px;line-height:1.4}
        h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:28px 0 2px}
        .meta,.caption{color:#555;margin:2px 0 8px}
        code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;background:#f3f3f3;padding:1px 4px;border-radius:3px}
        .banner{background:#fff4d6;border:1px solid #d9a400;border-radius:4px;padding:10px 14px}
        svg.chart{max-width:100%;height:auto;display:block}
        table{border-collapse:collapse;font-size:13px;width:100%}
        th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;word-break:break-word}
        thead th{background:#f3f3f3}tbody th{font-weight:normal;color:#444;white-space:nowrap}
        .swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
        """
}
