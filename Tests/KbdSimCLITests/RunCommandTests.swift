import Foundation
import RunStore
import Testing

/// `kbd-sim run` and `kbd-sim runs` as a user runs them, including a crash.
@Suite("kbd-sim run")
struct RunCommandTests {
    static var tinySpec: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
    }

    /// A tiny CIFG config file and the flags of a small neural run on the tiny spec.
    private func arguments(_ folder: ScratchFolder, db: String, rounds: Int) -> [String] {
        let model = folder.write(
            "tiny.json",
            #"{"cell":"cifg","embedding":8,"hidden":12,"projection":8,"name":"tiny","seed":1,"vocabularySize":16}"#)
        return [
            "run", "--corpus", "synthetic:" + Self.tinySpec, "--vocab", "12", "--model", model, "--devices", "3000",
            "--cohort", "8",
            "--rounds", String(rounds), "--eval-every", "5", "--server-opt", "fedadam:lr=0.01", "--db", db, "--json",
        ]
    }

    private func lastModelHash(_ db: String, run: Int) throws -> String? {
        let show = try KbdSimRunner.run(["runs", "show", String(run), "--db", db, "--json"])
        let rounds = try show.json()["rounds"] as? [[String: Any]]
        return rounds?.last?["model sha256"] as? String
    }

    @Test("run --json reports every round; runs list and runs show read the store")
    func runAndInspect() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        let r = try KbdSimRunner.run(arguments(folder, db: db, rounds: 5))
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        let rounds = json["rounds"] as? [[String: Any]] ?? []
        #expect(rounds.map { $0["round"] as? Int } == [1, 2, 3, 4, 5])
        let summary = json["summary"] as? [String: Any] ?? [:]
        #expect(summary["finished"] as? Bool == true)
        #expect((summary["acc@1"] as? Double).map { (0...1).contains($0) } == true)
        let list = try KbdSimRunner.run(["runs", "list", "--db", db])
        #expect(list.status == 0 && list.stdout.contains("finished") && list.stdout.contains("5/5"), "\(list.stdout)")
        let show = try KbdSimRunner.run(["runs", "show", "1", "--db", db])
        #expect(show.status == 0 && show.stdout.contains("acc@1"), "\(show.stderr)")
        let missing = try KbdSimRunner.run(["runs", "show", "9", "--db", db])
        #expect(missing.status != 0 && missing.stderr.contains("there is no run 9"), "\(missing.stderr)")
        let again = try KbdSimRunner.run(["run", "--resume", "1", "--db", db])
        #expect(again.status != 0 && again.stderr.contains("finished"), "\(again.stderr)")
    }

    @Test(
        "A run killed with SIGKILL mid-run resumes from its last committed round to the same model as an uninterrupted run"
    )
    func killAndResume() throws {
        let folder = ScratchFolder()
        let rounds = 40
        // The reference: the same configuration, never interrupted.
        let whole = folder.path + "/whole.sqlite"
        let reference = try KbdSimRunner.run(arguments(folder, db: whole, rounds: rounds))
        #expect(reference.status == 0, "\(reference.stderr)")
        let expected = try lastModelHash(whole, run: 1)
        #expect(expected != nil)

        // Start it again and kill it hard once a few rounds are committed (its progress lines
        // on stderr say so; the test stays off the database while the run writes it).
        let db = folder.path + "/crash.sqlite"
        let process = Process()
        process.executableURL = KbdSimRunner.executable
        process.arguments = arguments(folder, db: db, rounds: rounds).filter { $0 != "--json" }
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        var seen = ""
        while !seen.contains("round 3/"), process.isRunning {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        #expect(process.isRunning, "the run finished before it could be killed; raise the round count")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let store = try RunStore.open(path: db)
        let before = try store.lastCommittedRound(ofRun: 1)
        #expect(before >= 3 && before < rounds)
        #expect(try store.getRun(id: 1)?.status == .running)

        let resumed = try KbdSimRunner.run(["run", "--resume", "1", "--db", db, "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let resumedRounds = (try resumed.json()["rounds"] as? [[String: Any]] ?? []).compactMap { $0["round"] as? Int }
        #expect(resumedRounds == Array((before + 1)...rounds))
        // No round lost or repeated, the same final model and the same figures.
        #expect(try store.rounds(ofRun: 1).map(\.number) == Array(1...rounds))
        #expect(try lastModelHash(db, run: 1) == expected)
        let a = try RunStore.open(path: whole).evaluations(ofRun: 1).map {
            [$0.round, Int($0.acc1 * 1e9), Int($0.acc3 * 1e9)]
        }
        let b = try store.evaluations(ofRun: 1).map { [$0.round, Int($0.acc1 * 1e9), Int($0.acc3 * 1e9)] }
        #expect(a == b)
        #expect(try store.getRun(id: 1)?.status == .finished)
    }

    @Test("Bad flags are refused before anything runs")
    func badFlags() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        for (extra, expected) in [
            (["--cohort", "0"], "--cohort"), (["--codec", "q9s"], "--codec"),
            (["--server-opt", "fedfoo"], "server optimizer"),
            (["--client-lr", "-1"], "--client-lr"), (["--model", "kn9"], "--model"),
            (["--devices", "10", "--cohort", "50"], "fleet"),
            (["--client-opt", "rmsprop"], "--client-opt"), (["--rounds", "0"], "--rounds"),
            (["--max-device-messages", "0"], "--max-device-messages"), (["--client-dropout", "1"], "--client-dropout"),
            (["--client-dropout", "nan"], "--client-dropout"),
            (["--home-wifi-fraction", "1.5"], "--home-wifi-fraction"),
        ] {
            let r = try KbdSimRunner.run(
                ["run", "--corpus", "synthetic:" + Self.tinySpec, "--vocab", "12", "--model", "kn3", "--db", db] + extra
            )
            #expect(r.status == 64, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains(expected), "\(extra): \(r.stderr)")
        }
        let noStore = try KbdSimRunner.run(["run", "--resume", "1", "--db", folder.path + "/none.sqlite"])
        #expect(noStore.status == 64 && noStore.stderr.contains("does not exist"), "\(noStore.stderr)")
        let help = try KbdSimRunner.run(["run", "--help"])
        #expect(help.stdout.contains("Example"))
    }
}
