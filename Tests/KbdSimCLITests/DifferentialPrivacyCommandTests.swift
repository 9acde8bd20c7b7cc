import Foundation
import RunStore
import Testing

/// `kbd-sim run` with --dp-* flags and `kbd-sim bench privacy`, as a user runs them.
@Suite("kbd-sim run --dp-*, kbd-sim bench privacy")
struct DifferentialPrivacyCommandTests {
    private static var tinySpec: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
    }

    private static func tiny(_ command: [String], db: String) -> [String] {
        command + [
            "--corpus", "synthetic:" + tinySpec, "--vocab", "12", "--model", "lstm-tiny", "--devices", "3000",
            "--cohort", "8", "--rounds", "3", "--eval-every", "1", "--workers", "1", "--db", db,
        ]
    }

    @Test("run --dp-noise --dp-clip reports ε each round in --json, and the table has an epsilon column")
    func privateRun() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/dp.sqlite"
        let result = try KbdSimRunner.run(
            Self.tiny(["run"], db: db) + [
                "--dp-noise", "1.2", "--dp-clip", "0.5", "--max-participations", "2", "--json",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let doc = try result.json()
        let rounds = doc["rounds"] as? [[String: Any]] ?? []
        #expect(rounds.count == 3)
        #expect(rounds.allSatisfy { ($0["epsilon"] as? Double).map { $0 > 0 } == true })
        let summary = doc["summary"] as? [String: Any] ?? [:]
        #expect(summary["delta"] as? Double == 1e-5)
        #expect(summary["accounting"] as? String == "participation")
        #expect((summary["max participations"] as? Int).map { $0 <= 2 } == true)
        let table = try KbdSimRunner.run(
            Self.tiny(["run"], db: folder.path + "/t.sqlite") + ["--dp-noise", "1.2", "--dp-clip", "0.5"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("epsilon"))
        #expect(table.stdout.contains("privacy: ε = "))
        // runs show carries the stored privacy reports.
        let show = try KbdSimRunner.run(["runs", "show", "1", "--db", folder.path + "/t.sqlite", "--json"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("\"epsilon\""))
        // The HTML report draws accuracy against ε for it.
        let out = folder.path + "/report.html"
        let report = try KbdSimRunner.run(["report", "1", "--db", folder.path + "/t.sqlite", "--out", out])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.contains("h. Accuracy against privacy"))
    }

    @Test("run --model kn3 --dp-noise --dp-max-ngrams: DP counts, ε each round, the count report in runs show")
    func privateCountsRun() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/counts.sqlite"
        let result = try KbdSimRunner.run(
            Self.tiny(["run"], db: db) + ["--model", "kn3", "--dp-noise", "0.8", "--dp-max-ngrams", "8", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let doc = try result.json()
        let rounds = doc["rounds"] as? [[String: Any]] ?? []
        #expect(rounds.count == 3)
        #expect(rounds.allSatisfy { ($0["epsilon"] as? Double).map { $0 > 0 && $0.isFinite } == true })
        let summary = doc["summary"] as? [String: Any] ?? [:]
        #expect(summary["accounting"] as? String == "participation")
        let show = try KbdSimRunner.run(["runs", "show", "1", "--db", db, "--json"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("\"count-noise\"") && show.stdout.contains("\"releasedNGrams\""))
    }

    @Test(
        "Bad DP n-gram flags exit 64 naming the flag, and create no store",
        arguments: [
            (["--model", "kn3", "--dp-noise", "1", "--dp-clip", "1"], "--dp-max-ngrams"),
            (["--model", "kn3", "--dp-noise", "1", "--dp-clip", "1", "--dp-max-ngrams", "8"], "--dp-clip"),
            (["--model", "kn3", "--dp-noise", "1", "--dp-max-ngrams", "0"], "--dp-max-ngrams"),
            (
                ["--model", "kn3", "--dp-noise", "1", "--dp-max-ngrams", "8", "--dp-count-threshold", "2"],
                "--dp-count-threshold"
            ),
            (
                ["--model", "kn3", "--dp-noise", "1", "--dp-max-ngrams", "8", "--dp-accounting", "poisson"],
                "--dp-accounting"
            ),
            (["--dp-noise", "1", "--dp-max-ngrams", "8"], "--dp-max-ngrams"),
            (["--model", "kn3", "--dp-max-ngrams", "8"], "--dp-noise"),
        ])
    func refusedCounts(_ flags: [String], names flag: String) throws {
        try refused(flags, names: flag)
    }

    @Test(
        "Bad DP flags exit 64 naming the flag, and create no store",
        arguments: [
            (["--dp-noise", "0", "--dp-clip", "1"], "--dp-noise"),
            (["--dp-noise", "1", "--dp-clip", "-1"], "--dp-clip"),
            (["--dp-noise", "1"], "--dp-clip"),
            (["--dp-noise", "1", "--dp-clip", "1", "--dp-delta", "2"], "--dp-delta"),
            (["--dp-noise", "1", "--dp-clip", "1", "--dp-adaptive-quantile", "1.5"], "--dp-adaptive-quantile"),
            (["--dp-noise", "1", "--dp-clip", "1", "--dp-weighting", "examples"], "--dp-weighting"),
            (["--dp-noise", "1", "--dp-clip", "1", "--min-separation", "10"], "--min-separation"),
            (
                ["--dp-noise", "1", "--dp-clip", "1", "--dp-mechanism", "tree", "--dp-accounting", "tree"],
                "--dp-accounting"
            ),
            (["--dp-per-layer"], "--dp-noise"),
        ])
    func refused(_ flags: [String], names flag: String) throws {
        let folder = ScratchFolder()
        let db = folder.path + "/bad.sqlite"
        let result = try KbdSimRunner.run(Self.tiny(["run"], db: db) + flags)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(flag), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test("bench privacy: a no-DP reference and one row per noise, ε falling as the noise grows, identical cohorts")
    func benchPrivacy() throws {
        let folder = ScratchFolder()
        let result = try KbdSimRunner.run(
            Self.tiny(["bench", "privacy"], db: folder.path + "/b.sqlite") + [
                "--dp-clip", "0.5", "--noise-multipliers", "0.8,3", "--seeds", "1", "--json",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let doc = try result.json()
        let rows = doc["rows"] as? [[String: Any]] ?? []
        #expect(rows.count == 3)
        #expect(rows.first?["noise"] is NSNull)
        for key in ["codec", "noise", "simulated cohort", "epsilon", "acc@1", "acc@3", "loss", "MB up", "runs"] {
            #expect(rows.allSatisfy { $0[key] != nil }, "missing key \(key)")
        }
        let epsilons = rows.dropFirst().compactMap { $0["epsilon"] as? Double }
        #expect(epsilons.count == 2 && epsilons[0] > epsilons[1])
        #expect(doc["cohorts identical"] as? Bool == true)
        let bad = try KbdSimRunner.run(
            Self.tiny(["bench", "privacy"], db: folder.path + "/c.sqlite") + ["--noise-multipliers", "1"])
        #expect(bad.status == 64 && bad.stderr.contains("--dp-clip"), "\(bad.stderr)")
    }

    @Test("bench privacy on kn3: DP counts at two noise levels beside exact counts; a codec list is refused")
    func benchPrivacyCounts() throws {
        let folder = ScratchFolder()
        let result = try KbdSimRunner.run(
            Self.tiny(["bench", "privacy"], db: folder.path + "/n.sqlite") + [
                "--model", "kn3", "--dp-max-ngrams", "8", "--noise-multipliers", "0.8,3", "--seeds", "1",
                "--round-interval", "3600", "--json",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try result.json()["rows"] as? [[String: Any]] ?? []
        #expect(rows.count == 3)
        let epsilons = rows.dropFirst().compactMap { $0["epsilon"] as? Double }
        #expect(epsilons.count == 2 && epsilons[0] > epsilons[1] && epsilons.allSatisfy(\.isFinite))
        let codecs = try KbdSimRunner.run(
            Self.tiny(["bench", "privacy"], db: folder.path + "/m.sqlite") + [
                "--model", "kn3", "--dp-max-ngrams", "8", "--noise-multipliers", "1", "--codecs", "f32,q8s",
            ])
        #expect(codecs.status == 64 && codecs.stderr.contains("--codecs f32 only"), "\(codecs.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/m.sqlite"))
    }
}
