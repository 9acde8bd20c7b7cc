import Foundation
import RunStore
import Testing

@testable import RunReport

/// Reports built from hand-made stores: edge cases the real runner rarely produces.
struct RunReportTests {
    /// A store with one run on `corpus` and the given rounds (no rounds, one, abandoned ones,
    /// with or without local hours).
    private func store(runs: [(corpus: String, rounds: [RoundRecord], evaluate: Bool)]) throws -> RunStore {
        let store = try RunStore.inMemory()
        for spec in runs {
            let run = try store.createRun(
                RunRecord(
                    createdAt: "2026-11-23T20:00:00Z", corpus: spec.corpus, model: "kn3", codec: "rot,q8s,z1", seed: 7,
                    config: #"{"corpus":"x","model":{"ngram":{"order":3}},"rounds":4,"zipfBias":true}"#))
            let id = try #require(run.id)
            for var r in spec.rounds {
                r.runId = id
                let evaluation =
                    spec.evaluate
                    ? [
                        EvaluationRecord(
                            runId: id, round: r.number, split: "users", predictions: 10, acc1: 0.1 * Double(r.number),
                            acc3: 0.2 * Double(r.number), acc1iv: 0.1, ppl: 100)
                    ]
                    : []
                try store.commit(.init(round: r, evaluations: evaluation))
            }
        }
        return store
    }

    private func round(_ n: Int, reported: Int = 4, abandoned: Bool = false, hours: [Int]? = nil) -> RoundRecord {
        RoundRecord(
            runId: 0, number: n, virtualStart: 0, virtualEnd: 60, selected: 6, reported: reported, dropped: 1,
            stragglers: 1,
            abandoned: abandoned, bytesDown: 1000, bytesUp: 500_000, wallSeconds: 0.1, surplus: 6 - reported - 2,
            reportingLocalHours: hours)
    }

    private func svgs(_ html: String) -> [String] {
        html.components(separatedBy: "<svg ").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
    }

    @Test("Nice scales tick at 1, 2 or 5 × 10ⁿ and cover the data")
    func niceScales() {
        #expect(NiceScale(minimum: 0, maximum: 7.3).ticks == [0, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(NiceScale(minimum: 0, maximum: 9, targetTicks: 4).ticks == [0, 5, 10])
        #expect(NiceScale.nice(3.2) == 5 && NiceScale.nice(1.4) == 1 && NiceScale.nice(0.024) == 0.02)
        #expect(NiceScale(minimum: 0, maximum: 0.42).ticks.map { ($0 * 100).rounded() } == [0, 10, 20, 30, 40, 50])
        #expect(NiceScale(minimum: 0, maximum: 0.42).label(0.3) == "0.3")
        #expect(NiceScale(minimum: 0, maximum: 3, targetTicks: 8, integral: true).step == 1)
        #expect(NiceScale(minimum: 0, maximum: 1, targetTicks: 8, integral: true).ticks == [0, 1])
        let flat = NiceScale(minimum: 5, maximum: 5)
        #expect(flat.lower <= 5 && flat.upper > 5)
        #expect(
            NiceScale(minimum: 0, maximum: 120, targetTicks: 6, integral: true).ticks == [0, 20, 40, 60, 80, 100, 120])
    }

    @Test("Markup text is escaped")
    func escaping() {
        #expect(#"<a href="x">&'</a>"#.escapedForMarkup == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;")
    }

    @Test("Runs with no evaluation, one round, abandoned rounds and unrecorded local hours still render every chart")
    func edgeCases() throws {
        let hours = [1, 0, 0, 2] + [Int](repeating: 0, count: 19) + [1]
        let store = try store(runs: [
            (corpus: "synthetic", rounds: [], evaluate: false),
            (corpus: "synthetic", rounds: [round(1, hours: hours)], evaluate: true),
            (
                corpus: "synthetic",
                rounds: [round(1), round(2, reported: 1, abandoned: true), round(3, hours: hours)], evaluate: false
            ),
        ])
        let runs = try ReportedRun.load(
            ids: [1, 2, 3, 2], from: store, storePath: "mem.sqlite", allowMixedCorpora: false)
        #expect(runs.map(\.id) == [1, 2, 3])
        #expect(runs[1].localHourTotals == hours)
        #expect(runs[0].localHourTotals == nil)
        #expect(runs[2].localHourTotals?.reduce(0, +) == 4)
        #expect(runs[2].abandonedRounds == [2])
        #expect(runs[0].uploadLabel == "n-gram counts")
        let html = ReportDocument(
            runs: runs, storePath: "mem.sqlite", generatedAt: Date(timeIntervalSince1970: 0), toolVersion: "9.9"
        ).html
        let charts = svgs(html)
        #expect(charts.count == 5)
        for chart in charts {
            #expect(chart.contains("class=\"axis-title x\"") && chart.contains("class=\"axis-title y\""))
            for run in runs { #expect(chart.contains(run.label(showingCorpus: false).escapedForMarkup)) }
        }
        #expect(html.contains("no evaluation yet"))
        #expect(html.contains("not recorded"))
        #expect(html.contains("1 abandoned round"))
        #expect(html.contains("1970-01-01T00:00:00Z") && html.contains("kbd-sim 9.9") && html.contains("mem.sqlite"))
        #expect(html.contains("config: model.ngram.order"))
        #expect(!html.contains("runs on different corpora"))
    }

    @Test("Runs on different corpora are refused, or reported with a banner and corpora in the legends")
    func mixedCorpora() throws {
        let store = try store(runs: [
            (corpus: "synthetic", rounds: [round(1)], evaluate: true),
            (corpus: "<b>sms</b>.zip", rounds: [round(1)], evaluate: true),
        ])
        #expect {
            _ = try ReportedRun.load(ids: [1, 2], from: store, storePath: "s.sqlite", allowMixedCorpora: false)
        } throws: { error in
            let e = error as? RunReportError
            return e?.code == .mixedCorpora && e!.message.contains("run 1: synthetic")
                && e!.message.contains("run 2: <b>sms</b>.zip")
                && e!.message.contains("--allow-mixed-corpora")
        }
        let runs = try ReportedRun.load(ids: [1, 2], from: store, storePath: "s.sqlite", allowMixedCorpora: true)
        let html = ReportDocument(runs: runs, storePath: "s.sqlite", generatedAt: Date(), toolVersion: "1").html
        #expect(html.contains("runs on different corpora: run 1: synthetic; run 2: &lt;b&gt;sms&lt;/b&gt;.zip"))
        #expect(!html.contains("<b>sms"))
        for chart in svgs(html) {
            #expect(chart.contains("corpus synthetic") && chart.contains("corpus &lt;b&gt;sms&lt;/b&gt;.zip"))
        }
    }

    @Test("Unknown run ids name the store and its runs")
    func unknownRun() throws {
        let store = try store(runs: [(corpus: "synthetic", rounds: [], evaluate: false)])
        #expect {
            _ = try ReportedRun.load(ids: [1, 42], from: store, storePath: "s.sqlite", allowMixedCorpora: false)
        } throws: { error in
            let e = error as? RunReportError
            return e?.code == .noSuchRun && e!.description.contains("s.sqlite") && e!.message.contains("run 42")
                && e!.message.contains("its runs are 1")
        }
        #expect {
            _ = try ReportedRun.load(ids: [], from: store, storePath: "s.sqlite", allowMixedCorpora: false)
        } throws: {
            ($0 as? RunReportError)?.code == .noRuns
        }
    }

    @Test("A report into a missing folder is refused and leaves nothing behind")
    func atomicWrite() throws {
        let folder = NSTemporaryDirectory() + "kbd-sim-report-\(UUID().uuidString)"
        #expect { _ = try ReportFile.write("x", to: folder + "/report.html") } throws: {
            ($0 as? RunReportError)?.code == .unwritableOutput
        }
        #expect(!FileManager.default.fileExists(atPath: folder))
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let written = try ReportFile.write("<html></html>", to: folder + "/report.html")
        #expect(written.bytes == 13)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["report.html"])
    }
}
