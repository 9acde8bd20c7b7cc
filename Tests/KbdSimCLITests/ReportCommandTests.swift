import Foundation
import RunStore
import Testing

/// `kbd-sim report` over runs made by the real runner.
@Suite("kbd-sim report", .serialized)
struct ReportCommandTests {
    private static var tinySpec: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
    }

    /// Runs `kbd-sim run` with a small, fast configuration; returns its run id.
    @discardableResult
    private func run(_ db: String, model: [String], spec: String = tinySpec, rounds: Int = 4) throws -> Int {
        let r = try KbdSimRunner.run(
            [
                "run", "--corpus", "synthetic:" + spec, "--vocab", "12", "--devices", "3000", "--cohort", "8",
                "--rounds", String(rounds), "--eval-every", "2", "--db", db, "--json",
            ] + model)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(r.json()["run"] as? Int)
    }

    private func neuralModel(_ folder: ScratchFolder) -> [String] {
        let model = folder.write(
            "tiny.json",
            #"{"cell":"cifg","embedding":8,"hidden":12,"projection":8,"name":"tiny","seed":1,"vocabularySize":16}"#)
        return ["--model", model, "--server-opt", "fedadam:lr=0.01", "--codec", "rot,q8s,z1"]
    }

    private func svgs(_ html: String) -> [String] {
        html.components(separatedBy: "<svg ").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
    }

    private func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test(
        "A report on two real runs: one self-contained file, six charts (the five of every report and j, per-user accuracy) with axis titles and every run in each legend"
    )
    func reportOnTwoRuns() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        try run(db, model: ["--model", "kn3"])
        try run(db, model: neuralModel(folder), rounds: 3)
        let out = folder.path + "/report.html"
        let r = try KbdSimRunner.run(["report", "1", "2", "--db", db, "--out", out, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        #expect(json["path"] as? String == out)
        #expect((json["runs"] as? [[String: Any]])?.compactMap { $0["run"] as? Int } == [1, 2])
        #expect((json["charts"] as? [String])?.count == 6)
        #expect((json["charts"] as? [String])?.last == "j. Who the model fails: per-user accuracy")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(json["bytes"] as? Int == html.utf8.count)

        // Valid-looking, self-contained HTML.
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("</html>"))
        #expect(count("<section", in: html) == count("</section>", in: html))
        #expect(count("<svg ", in: html) == 6 && count("</svg>", in: html) == 6)
        #expect(!html.contains("<script") && !html.contains("<img") && !html.contains("<link"))
        let references = try NSRegularExpression(pattern: #"(?:src|href)\s*=|url\("#, options: [.caseInsensitive])
        #expect(references.numberOfMatches(in: html, range: NSRange(html.startIndex..., in: html)) == 0)
        let urls = try NSRegularExpression(pattern: #"https?://[^"'\s<>)]*"#)
        let found = urls.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
            String(html[Range($0.range, in: html)!])
        }
        #expect(Set(found) == ["http://www.w3.org/2000/svg"])

        // Every chart: both axis titles, tick labels, each run in the legend (n-gram runs upload counts).
        let labels = ["run 1 · kn3 · n-gram counts · seed 1", "run 2 · tiny · codec rot,q8s,z1 · seed 1"]
        for chart in svgs(html) {
            #expect(chart.contains("class=\"axis-title x\"") && chart.contains("class=\"axis-title y\""))
            #expect(chart.contains("class=\"tick-labels\""))
            for label in labels { #expect(chart.contains(label), "\(label) missing from a legend") }
        }
        for title in [
            "round", "uploaded MB, cumulative", "local hour of day", "accuracy (% of predictions",
            "devices (count per round)",
        ] {
            #expect(html.contains(title))
        }
        #expect(html.contains("config: cohort") && html.contains("final acc@1") && html.contains("total MB up"))
        #expect(!html.contains("runs on different corpora"))

        // The local-hour counts of each round sum to its reports, so each run's histogram sums
        // to the devices it aggregated.
        let store = try RunStore.open(path: db)
        for id in [Int64(1), 2] {
            let rounds = try store.rounds(ofRun: id)
            #expect(!rounds.isEmpty)
            for round in rounds {
                let hours = try #require(round.reportingLocalHours)
                #expect(hours.count == 24 && hours.reduce(0, +) == round.reported)
            }
            let total = rounds.compactMap(\.reportingLocalHours).reduce(0) { $0 + $1.reduce(0, +) }
            #expect(total == rounds.reduce(0) { $0 + $1.reported })
            #expect(html.contains("\(total) reports in \(rounds.count) rounds"))
        }

        let text = try KbdSimRunner.run(["report", "2", "--db", db, "--out", folder.path + "/one.html"])
        #expect(text.status == 0 && text.stdout.contains("wrote"), "\(text.stderr)")
    }

    @Test("Bad ids, mixed corpora and a missing output folder fail clearly and write nothing")
    func failures() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        let otherSpec = folder.path + "/other-tiny.json"
        try FileManager.default.copyItem(atPath: Self.tinySpec, toPath: otherSpec)
        try run(db, model: ["--model", "kn3"], rounds: 2)
        try run(db, model: ["--model", "kn2"], spec: otherSpec, rounds: 2)
        let out = folder.path + "/report.html"

        let unknown = try KbdSimRunner.run(["report", "1", "7", "--db", db, "--out", out])
        #expect(unknown.status == 64, "\(unknown.stderr)")
        #expect(
            unknown.stderr.contains("no run 7") && unknown.stderr.contains(db) && unknown.stderr.contains("1, 2"),
            "\(unknown.stderr)")

        let none = try KbdSimRunner.run(["report", "--db", db, "--out", out])
        #expect(none.status == 64 && none.stderr.contains("at least one run id"), "\(none.stderr)")

        let missingFolder = try KbdSimRunner.run([
            "report", "1", "--db", db, "--out", folder.path + "/nope/report.html",
        ])
        #expect(
            missingFolder.status == 64 && missingFolder.stderr.contains("does not exist"), "\(missingFolder.stderr)")

        let mixed = try KbdSimRunner.run(["report", "1", "2", "--db", db, "--out", out])
        #expect(mixed.status == 64, "\(mixed.stderr)")
        #expect(
            mixed.stderr.contains("different corpora") && mixed.stderr.contains("--allow-mixed-corpora"),
            "\(mixed.stderr)")
        #expect(
            mixed.stderr.contains("run 1: synthetic:\(Self.tinySpec)")
                && mixed.stderr.contains("run 2: synthetic:\(otherSpec)"))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: folder.path).filter {
                $0.hasSuffix(".html") || $0.hasSuffix(".tmp")
            }.isEmpty)

        let allowed = try KbdSimRunner.run(["report", "1", "2", "--db", db, "--out", out, "--allow-mixed-corpora"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(
            html.contains("runs on different corpora: run 1: synthetic:\(Self.tinySpec); run 2: synthetic:\(otherSpec)")
        )
        for chart in svgs(html) {
            #expect(
                chart.contains("corpus synthetic:\(Self.tinySpec)") && chart.contains("corpus synthetic:\(otherSpec)"))
        }

        let help = try KbdSimRunner.run(["report", "--help"])
        #expect(help.status == 0 && help.stdout.contains("Example"))
    }
}
