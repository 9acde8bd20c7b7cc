import Foundation
import RunStore
import Testing

/// `kbd-sim run` with attackers and defences, and `kbd-sim bench robust`, as a user runs them.
@Suite("kbd-sim run --attack and bench robust")
struct RobustnessCommandTests {
    private static var tinySpec: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
    }

    /// A small lstm-tiny run on the tiny spec (its words include fe, bo and do).
    private func arguments(db: String, _ extra: [String]) -> [String] {
        [
            "run", "--corpus", "synthetic:" + Self.tinySpec, "--vocab", "12", "--model", "lstm-tiny", "--devices",
            "3000", "--cohort", "10", "--rounds", "4", "--eval-every", "2", "--client-lr", "1", "--batch", "4",
            "--workers", "1", "--db", db, "--backdoor-trigger", "fe bo", "--backdoor-target", "do",
        ] + extra
    }

    @Test(
        "Bad input is a usage error (exit 64) naming the flag, and nothing is stored",
        arguments: [
            (["--attackers", "1.5", "--attack", "backdoor"], "--attackers"),
            (["--attackers", "-0.1", "--attack", "backdoor"], "--attackers"),
            (["--attackers", "0.1"], "--attack"),
            (["--attackers", "0.1", "--attack", "flip"], "--attack"),
            (["--aggregation", "decode,weight,trimmed-mean:0.5,server-optimizer"], "β"),
            (["--aggregation", "decode,weight,krum:f=4,server-optimizer"], "krum:f=4"),
            (["--aggregation", "decode,norm-bound:0,weight,sum,server-optimizer"], "bound C"),
            (["--attackers", "0.1", "--attack", "backdoor", "--backdoor-trigger", "?!"], "--backdoor-trigger"),
            (["--attackers", "0.1", "--attack", "backdoor", "--backdoor-target", "nowhere"], "--backdoor-target"),
            (["--attackers", "0.1", "--attack", "adaptive"], "norm-bound"),
        ])
    func refusals(extra: [String], fragment: String) throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        let r = try KbdSimRunner.run(arguments(db: db, extra))
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(fragment), "\(r.stderr)")
        let stored = FileManager.default.fileExists(atPath: db) ? try RunStore.open(path: db).runs() : []
        #expect(stored.isEmpty)
    }

    @Test("An attacked, defended run reports backdoor@1/@3 per evaluation; runs show has them and the attack setting")
    func attackedRun() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        let r = try KbdSimRunner.run(
            arguments(
                db: db,
                [
                    "--attackers", "0.2", "--attack", "boost:10", "--aggregation",
                    "decode,norm-bound:0.5,weight,median,server-optimizer", "--json",
                ]))
        #expect(r.status == 0, "\(r.stderr)")
        let rounds = try r.json()["rounds"] as? [[String: Any]] ?? []
        let evaluated = rounds.filter { $0["acc@1"] != nil }
        #expect(
            evaluated.count == 2 && evaluated.allSatisfy { $0["backdoor@1"] is Double && $0["backdoor@3"] is Double })
        let show = try KbdSimRunner.run(["runs", "show", "1", "--db", db, "--json"])
        let doc = try show.json()
        let shown = (doc["rounds"] as? [[String: Any]] ?? []).filter { $0["backdoor@1"] != nil }
        #expect(shown.count == 2)
        let configuration = doc["configuration"] as? [String: Any] ?? [:]
        #expect(configuration["attack"] as? String == "boost:10" && configuration["attackers"] as? Double == 0.2)
        let table = try KbdSimRunner.run(["runs", "show", "1", "--db", db])
        #expect(table.stdout.contains("backdoor@1"))
        let reports = try RunStore.open(path: db).stageReports(ofRun: 1)
        #expect(Set(reports.map(\.stage)) == ["norm-bound", "median"])
        // The HTML report draws the backdoor's success by round.
        let out = folder.path + "/report.html"
        let report = try KbdSimRunner.run(["report", "1", "--db", db, "--out", out])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("i. Backdoor success by round"))
    }

    @Test(
        "bench robust: one row per (fraction, attack, defence), fraction 0 once per defence, the table's keys in --json"
    )
    func benchRobust() throws {
        let folder = ScratchFolder()
        let r = try KbdSimRunner.run([
            "bench", "robust", "--corpus", "synthetic:" + Self.tinySpec, "--vocab", "12", "--model", "lstm-tiny",
            "--devices", "3000", "--cohort", "10", "--rounds", "2", "--client-lr", "1", "--batch", "4", "--workers",
            "1", "--backdoor-trigger", "fe bo", "--backdoor-target", "do", "--attacker-fractions", "0,0.2",
            "--attacks", "backdoor,sign-flip", "--defences", "none,norm-bound:0.5+median,multi-krum:f=1;m=3",
            "--db", folder.path + "/b.sqlite", "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try r.json()["rows"] as? [[String: Any]] ?? []
        #expect(rows.count == 3 + 2 * 3)
        for key in [
            "attackers", "attack", "defence", "acc@1", "backdoor@1", "backdoor@3", "MB up", "server s/round", "run",
        ] {
            #expect(rows.allSatisfy { $0[key] != nil }, "missing \(key)")
        }
        let bad = try KbdSimRunner.run([
            "bench", "robust", "--corpus", "synthetic:" + Self.tinySpec, "--vocab", "12", "--model", "lstm-tiny",
            "--backdoor-target", "do", "--attacker-fractions", "0,1", "--db", folder.path + "/c.sqlite",
        ])
        #expect(bad.status == 64 && bad.stderr.contains("--attacker-fractions"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/c.sqlite"))
    }

    @Test("bench robust: Ctrl-C stops after the current round's commit and prints the runs completed so far")
    func benchRobustInterrupt() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/i.sqlite"
        let process = Process()
        process.executableURL = KbdSimRunner.executable
        process.arguments = [
            "bench", "robust", "--corpus", "synthetic:" + Self.tinySpec, "--vocab", "12", "--model", "lstm-tiny",
            "--devices", "3000", "--cohort", "10", "--rounds", "150", "--client-lr", "1", "--batch", "4", "--workers",
            "1", "--backdoor-target", "do", "--attacker-fractions", "0", "--defences", "none,median", "--db", db,
        ]
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Wait until the second run (median) has started, then give it a moment to commit rounds.
        var seen = ""
        while !seen.contains("run 2/2"), process.isRunning {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        Thread.sleep(forTimeInterval: 2)
        #expect(process.isRunning, "the benchmark finished before it could be interrupted; raise the round count")
        kill(process.processIdentifier, SIGINT)
        let out = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(out.contains("none") && out.contains("2 (stopped)"), "\(out)")
        #expect(out.contains("stopped: 1 of 2 runs finished") && out.contains("kbd-sim run --resume 2"), "\(out)")
        let store = try RunStore.open(path: db)
        #expect(try store.getRun(id: 1)?.status == .finished)
        #expect(try store.getRun(id: 2)?.status == .interrupted)
    }
}
