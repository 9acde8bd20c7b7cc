import Foundation
import RunStore
import Testing

/// `kbd-sim bench quant` as a user runs it.
@Suite("kbd-sim bench quant")
struct BenchQuantCommandTests {
    private static var tinySpec: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
    }

    /// A tiny benchmark: lstm-tiny on the tiny spec, 3 rounds evaluated every round.
    private func arguments(
        db: String, codecs: String = "f32,q8s", zlib: String = "0,1", rounds: Int = 3, extra: [String] = []
    ) -> [String] {
        [
            "bench", "quant", "--corpus", "synthetic:" + Self.tinySpec, "--vocab", "12", "--model", "lstm-tiny",
            "--devices", "3000",
            "--cohort", "8", "--rounds", String(rounds), "--eval-every", "1", "--server-opt", "fedadam:lr=0.01",
            "--codecs", codecs,
            "--zlib", zlib, "--seeds", "2", "--workers", "1", "--db", db,
        ] + extra
    }

    @Test("--json has the table's columns as keys, run ids the store holds, and the same numbers when run again")
    func jsonAndReproducible() throws {
        let folder = ScratchFolder()
        let first = try KbdSimRunner.run(arguments(db: folder.path + "/a.sqlite", extra: ["--json"]))
        #expect(first.status == 0, "\(first.stderr)")
        let doc = try first.json()
        let rows = doc["rows"] as? [[String: Any]] ?? []
        #expect(rows.map { "\($0["codec"]!) z\($0["zlib"]!)" } == ["f32 z0", "f32 z1", "q8s z0", "q8s z1"])
        for key in [
            "codec", "zlib", "bits/param", "up bytes/device/round", "ratio to f32", "acc@1", "acc@3",
            "rounds to target",
            "MB to target", "reached", "runs", "acc@1 ±", "acc@3 ±", "scheme", "model sha256",
        ] {
            #expect(rows.allSatisfy { $0[key] != nil }, "missing key \(key)")
        }
        for key in [
            "target acc@1", "target basis", "f32 bytes", "f32 basis", "parameters", "cohorts identical", "finished",
            "spread",
        ] {
            #expect(doc[key] != nil, "missing key \(key)")
        }
        #expect(doc["cohorts identical"] as? Bool == true)
        #expect(doc["finished"] as? Bool == true)
        #expect(doc["f32 basis"] as? String == "measured")
        #expect(doc["spread"] as? String == "half-range")
        let f32 = rows[0]
        let q8 = rows[2]
        let bits = try #require(f32["bits/param"] as? Double)
        #expect(bits > 32 && bits < 34)  // 32 plus the header over lstm-tiny's parameters
        #expect(f32["ratio to f32"] as? Double == 1)
        #expect((q8["bits/param"] as? Double).map { $0 > 8 && $0 < 9 } == true)
        #expect((q8["ratio to f32"] as? Double).map { $0 > 3.5 } == true)
        #expect(rows.flatMap { $0["runs"] as? [Int] ?? [] }.sorted() == Array(1...8))

        // The same benchmark again, into another store: every number and model hash agrees.
        let second = try KbdSimRunner.run(arguments(db: folder.path + "/b.sqlite", extra: ["--json"]))
        #expect(second.status == 0, "\(second.stderr)")
        let again = try second.json()
        #expect(NSArray(array: rows) == NSArray(array: again["rows"] as? [[String: Any]] ?? []))
        #expect(doc["target acc@1"] as? Double == again["target acc@1"] as? Double)

        // Every run is a normal run in the store.
        let list = try KbdSimRunner.run(["runs", "list", "--db", folder.path + "/a.sqlite", "--json"])
        let runs = try list.json()["runs"] as? [[String: Any]] ?? []
        #expect(runs.count == 8 && runs.allSatisfy { $0["status"] as? String == "finished" })
        #expect(Set(runs.compactMap { $0["codec"] as? String }) == ["f32", "f32,z1", "q8s", "q8s,z1"])
        let show = try KbdSimRunner.run(["runs", "show", "1", "--db", folder.path + "/a.sqlite", "--json"])
        let configuration = try show.json()["configuration"] as? [String: Any]
        #expect(configuration?["uploadTiming"] as? String == "float32Size")
        #expect(configuration?["seed"] as? Int == 1)
    }

    @Test("The table names its columns, the spread, the target and whether cohorts were identical")
    func table() throws {
        let folder = ScratchFolder()
        let r = try KbdSimRunner.run(arguments(db: folder.path + "/runs.sqlite", codecs: "q8s,rot+q2s", zlib: "1"))
        #expect(r.status == 0, "\(r.stderr)")
        for text in [
            "bits/param", "ratio to f32", "rounds to target", "MB to target", "rot+q2s", "half-range",
            "identical cohorts", ": yes", "computed",
        ] {
            #expect(r.stdout.contains(text), "missing '\(text)' in\n\(r.stdout)")
        }
        #expect(r.stderr.contains("[rot+q2s z1 seed 2] round 3/3"), "\(r.stderr)")
    }

    @Test("An unknown codec stops with exit 64 naming it and the valid codecs, and writes nothing")
    func unknownCodec() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        _ = try RunStore.open(path: db)  // an existing, empty store
        let r = try KbdSimRunner.run(arguments(db: db, codecs: "f32,q8s,q9z,rot+q2s"))
        #expect(r.status == 64, "\(r.stderr)")
        #expect(
            r.stderr.contains("'q9z'") && r.stderr.contains("rot+q2s") && r.stderr.contains("q1s…q8s"), "\(r.stderr)")
        #expect(try RunStore.open(path: db).runs().isEmpty)
        // Nor is a store created.
        let none = folder.path + "/none.sqlite"
        let s = try KbdSimRunner.run(arguments(db: none, codecs: "bogus"))
        #expect(s.status == 64)
        #expect(!FileManager.default.fileExists(atPath: none))
    }

    @Test("Bad flags are refused before anything runs")
    func badFlags() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        for (extra, expected) in [
            (["--seeds", "0"], "--seeds"), (["--rounds", "0"], "--rounds"), (["--codecs", ""], "--codecs is empty"),
            (["--codecs", "q8s,q8s"], "twice"), (["--target", "0"], "--target"), (["--target", "1.5"], "--target"),
            (["--zlib", "10"], "--zlib"), (["--zlib", "1,x"], "--zlib"), (["--codecs", "q8s+z6"], "--zlib"),
            (["--model", "kn3"], "neural model"), (["--eval-every", "0"], "--eval-every"),
            (["--seed-list", "1,a"], "--seed-list"),
            (["--seed-list", "3,3"], "twice"), (["--seed-list", "4"], "not both"), (["--cohort", "0"], "--cohort"),
            (["--workers", "0"], "--workers"),
        ] {
            var base = arguments(db: db)
            if extra.first == "--seed-list", expected != "not both", let i = base.firstIndex(of: "--seeds") {
                base.removeSubrange(i...(i + 1))
            }
            let r = try KbdSimRunner.run(base + extra)
            #expect(r.status == 64, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains(expected), "\(extra): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: db))
        let help = try KbdSimRunner.run(["bench", "quant", "--help"])
        #expect(
            help.stdout.contains("Example") && help.stdout.contains("half-range") && help.stdout.contains("--codecs"))
    }

    @Test("Ctrl-C stops after the current round's commit and prints the table of the runs completed so far")
    func interrupt() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        let process = Process()
        process.executableURL = KbdSimRunner.executable
        process.arguments = arguments(db: db, codecs: "f32,q8s", zlib: "1", rounds: 120)
        var environment = ProcessInfo.processInfo.environment
        environment["KBD_SIM_NO_CACHE"] = "1"
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Wait until the second run (q8s, seed 1) has committed a few rounds.
        var seen = ""
        while !seen.contains("[q8s z1 seed 1] round 3/"), process.isRunning {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        #expect(process.isRunning, "the benchmark finished before it could be interrupted; raise the round count")
        kill(process.processIdentifier, SIGINT)
        let out = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(out.contains("f32") && out.contains("stopped: run 2") && out.contains("1 of 4 runs complete"), "\(out)")
        let store = try RunStore.open(path: db)
        #expect(try store.runs().count == 2)
        #expect(try store.getRun(id: 1)?.status == .finished)
        #expect(try store.getRun(id: 2)?.status == .interrupted)
        #expect(try store.lastCommittedRound(ofRun: 2) >= 3)
    }
}
