import Foundation
import Testing

/// `kbd-sim run --personalize …`, `runs show`, `runs branch` and the report's per-user chart,
/// as a user runs them (issue 18).
@Suite("kbd-sim run per-user figures, personalization, runs branch")
struct PerUserCommandTests {
    private static var tinySpec: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
    }

    private static func tiny(_ command: [String], db: String, rounds: Int = 3) -> [String] {
        command + [
            "--corpus", "synthetic:" + tinySpec, "--vocab", "12", "--model", "lstm-tiny", "--devices", "3000",
            "--cohort", "8", "--rounds", String(rounds), "--eval-every", "1", "--workers", "1", "--db", db,
        ]
    }

    @Test(
        "run --personalize reports the per-user distribution and the personalized figures; show, branch and report use them"
    )
    func personalizedRun() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/p.sqlite"
        let result = try KbdSimRunner.run(
            Self.tiny(["run"], db: db)
                + ["--personalize", "--personalize-lr", "0.2", "--checkpoint-every", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let doc = try result.json()
        let summary = doc["summary"] as? [String: Any] ?? [:]
        for key in [
            "user mean acc@1", "user p10 acc@1", "user median acc@1", "user p90 acc@1", "worst decile acc@1",
            "share below threshold", "personalized acc@1", "global acc@1", "users helped", "users hurt",
            "user gain median",
        ] {
            #expect(summary[key] is Double, "\(key) missing from \(summary.keys.sorted())")
        }
        #expect(summary["regressions"] is Int)
        let table = try KbdSimRunner.run(["runs", "show", "1", "--db", db])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("user p10") && table.stdout.contains("personalized"))
        let show = try KbdSimRunner.run(["runs", "show", "1", "--db", db, "--json"])
        #expect(show.stdout.contains("\"worst decile acc@1\""))

        let branch = try KbdSimRunner.run(["runs", "branch", "1", "--from-round", "2", "--db", db, "--json"])
        #expect(branch.status == 0, "\(branch.stderr)")
        #expect((try branch.json())["run"] as? Int == 2)
        let resumed = try KbdSimRunner.run(["run", "--resume", "2", "--db", db, "--json", "--workers", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let parentRounds = (doc["rounds"] as? [[String: Any]] ?? []).compactMap { $0["model sha256"] as? String }
        let branchRounds = ((try resumed.json())["rounds"] as? [[String: Any]] ?? []).compactMap {
            $0["model sha256"] as? String
        }
        #expect(branchRounds == Array(parentRounds.suffix(1)))

        let out = folder.path + "/report.html"
        let report = try KbdSimRunner.run(["report", "1", "2", "--db", db, "--out", out])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("j. Who the model fails"))
    }

    @Test(
        "Bad personalization and guard flags exit 64 naming the flag, and create no store",
        arguments: [
            (["--personalize", "--personalize-lr", "0"], "--personalize-lr"),
            (["--personalize", "--personalize-lr", "-0.5"], "--personalize-lr"),
            (["--personalize", "--user-lambda", "1.5"], "--user-lambda"),
            (["--personalize", "--user-lambda", "often"], "--user-lambda"),
            (["--personalize-lr", "0.3"], "--personalize"),
            (["--fedprox-mu", "-1"], "--fedprox-mu"),
            (["--regression-threshold", "2"], "--regression-threshold"),
            (["--split", "per-user"], "--split"),
        ])
    func refused(_ flags: [String], names flag: String) throws {
        let folder = ScratchFolder()
        let db = folder.path + "/bad.sqlite"
        let result = try KbdSimRunner.run(Self.tiny(["run"], db: db) + flags)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(flag), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test("runs branch from a round never committed, or an unknown run, is refused and stores nothing")
    func badBranch() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/b.sqlite"
        // Evaluated only after the last round: round 1 is neither the newest nor the best, so
        // its checkpoint is not kept.
        var arguments = Self.tiny(["run"], db: db, rounds: 2)
        arguments[arguments.firstIndex(of: "--eval-every")! + 1] = "0"
        #expect(try KbdSimRunner.run(arguments).status == 0)
        for (arguments, says) in [
            (["runs", "branch", "1", "--from-round", "7"], "--from-round must be in 1…2"),
            (["runs", "branch", "9", "--from-round", "1"], "there is no run 9"),
            (["runs", "branch", "1", "--from-round", "1"], "kept no checkpoint of round 1"),
        ] {
            let r = try KbdSimRunner.run(arguments + ["--db", db])
            #expect(r.status == 64, "\(r.stderr)")
            #expect(r.stderr.contains(says), "\(r.stderr)")
        }
        let list = try KbdSimRunner.run(["runs", "list", "--db", db, "--json"])
        let runs = try list.json()["runs"] as? [Any]
        #expect(runs?.count == 1)
    }
}
