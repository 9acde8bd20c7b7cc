import Foundation
import RunStore
import Testing

/// `kbd-sim run --secure-aggregation` as a user runs it.
@Suite("kbd-sim run --secure-aggregation")
struct SecureAggregationCommandTests {
    private func arguments(_ folder: ScratchFolder, db: String, extra: [String]) -> [String] {
        let model = folder.write(
            "tiny.json",
            #"{"cell":"cifg","embedding":8,"hidden":12,"projection":8,"name":"tiny","seed":1,"vocabularySize":16}"#)
        return [
            "run", "--corpus", "synthetic:" + RunCommandTests.tinySpec, "--vocab", "12", "--model", model, "--devices",
            "3000", "--cohort", "8", "--min-report-fraction", "0.25", "--rounds", "3", "--eval-every", "3", "--db", db,
        ] + extra
    }

    @Test("--json prints the protocol's costs per round and in the summary, and the store keeps them")
    func json() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        let r = try KbdSimRunner.run(
            arguments(
                folder, db: db,
                extra: ["--codec", "clip=0.5,q8s", "--secure-aggregation", "--secagg-dropout", "0.1", "--json"]))
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        let rounds = json["rounds"] as? [[String: Any]] ?? []
        #expect(rounds.count == 3)
        for key in [
            "secagg", "secagg k", "secagg t", "secagg ring bits", "secagg contributors", "secagg recovered",
            "secagg bytes up per phone", "secagg bytes down per phone", "secagg phone ms", "secagg server ms",
            "secagg stages",
        ] {
            #expect(rounds.allSatisfy { $0[key] != nil }, "missing \(key)")
        }
        #expect(rounds.first?["secagg"] as? String == "masked")
        let stages = rounds.first?["secagg stages"] as? [[String: Any]] ?? []
        #expect(stages.first?["stage"] as? String == "advertise-keys")
        let summary = json["summary"] as? [String: Any] ?? [:]
        #expect(summary["finished"] as? Bool == true)
        for key in ["secagg recovered", "secagg abandoned rounds", "secagg bytes up per phone", "secagg server ms"] {
            #expect(summary[key] != nil, "missing summary \(key)")
        }
        let stored = try RunStore.open(path: db).stageReports(ofRun: 1).filter { $0.stage == "secure-aggregation" }
        #expect(stored.count == 3)
    }

    @Test("Over --server, the same run ends at the same model as in process")
    func overHTTP() throws {
        let folder = ScratchFolder()
        let started = try ServerProcess.start(folder: folder)
        defer { if started.process.isRunning { started.process.terminate() } }
        let flags = ["--codec", "clip=0.5,q8s", "--secure-aggregation", "--secagg-dropout", "0.1", "--json"]
        let remote = try KbdSimRunner.run(
            arguments(folder, db: folder.path + "/unused.sqlite", extra: flags)
                + ["--server", started.base, "--token-file", folder.path + "/server.sqlite.token"])
        #expect(remote.status == 0, "\(remote.stderr)")
        let local = try KbdSimRunner.run(arguments(folder, db: folder.path + "/local.sqlite", extra: flags))
        #expect(local.status == 0, "\(local.stderr)")
        let remoteSummary = try remote.json()["summary"] as? [String: Any] ?? [:]
        let localSummary = try local.json()["summary"] as? [String: Any] ?? [:]
        #expect(remoteSummary["transport"] as? String == started.base)
        #expect(remoteSummary["model sha256"] as? String != nil)
        #expect(remoteSummary["model sha256"] as? String == localSummary["model sha256"] as? String)
        #expect(remoteSummary["secagg recovered"] as? Int == localSummary["secagg recovered"] as? Int)
    }

    @Test("The table output shows the protocol's costs per round")
    func table() throws {
        let folder = ScratchFolder()
        let r = try KbdSimRunner.run(
            arguments(
                folder, db: folder.path + "/runs.sqlite", extra: ["--codec", "clip=0.5,q4s", "--secure-aggregation"]))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("KB up/phone") && r.stdout.contains("recovered"), "\(r.stdout)")
    }

    @Test("bench quant --secure-aggregation puts a masked run beside each integer codec's plain one")
    func benchQuant() throws {
        let folder = ScratchFolder()
        let r = try KbdSimRunner.run([
            "bench", "quant", "--corpus", "synthetic:" + RunCommandTests.tinySpec, "--vocab", "12", "--model",
            "lstm-tiny", "--devices", "3000", "--cohort", "8", "--min-report-fraction", "0.25", "--rounds", "2",
            "--eval-every", "1", "--codecs", "f32,q8s", "--zlib", "1", "--seeds", "1", "--workers", "1", "--db",
            folder.path + "/bench.sqlite", "--secure-aggregation", "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try r.json()["rows"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["codec"] as? String } == ["f32", "q8s", "q8s+secagg"])
        #expect(rows.map { $0["secure aggregation"] as? Bool } == [false, false, true])
        #expect(rows.last?["scheme"] as? String == "clip=0.5,q8s")
        let bits = rows.map { $0["bits/param"] as? Double ?? 0 }
        #expect(bits[2] > bits[1])
    }

    @Test("Refusals name the flag: a float codec, an n-gram model, a per-update stage, --remote-training")
    func refusals() throws {
        let folder = ScratchFolder()
        let db = folder.path + "/runs.sqlite"
        let float = try KbdSimRunner.run(arguments(folder, db: db, extra: ["--codec", "f32", "--secure-aggregation"]))
        #expect(float.status != 0 && float.stderr.contains("sends floats"), "\(float.stderr)")
        let ngram = try KbdSimRunner.run(
            [
                "run", "--corpus", "synthetic:" + RunCommandTests.tinySpec, "--vocab", "12", "--model", "kn3",
                "--devices", "3000", "--cohort", "8", "--rounds", "1", "--db", db, "--codec", "clip=0.5,q8s",
                "--secure-aggregation",
            ])
        #expect(ngram.status != 0 && ngram.stderr.contains("n-gram"), "\(ngram.stderr)")
        let median = try KbdSimRunner.run(
            arguments(
                folder, db: db,
                extra: [
                    "--codec", "clip=0.5,q8s", "--secure-aggregation", "--aggregation",
                    "decode,weight:uniform,median,server-optimizer",
                ]))
        #expect(median.status != 0 && median.stderr.contains("looks at single updates"), "\(median.stderr)")
        let http = try KbdSimRunner.run(
            arguments(
                folder, db: db,
                extra: [
                    "--codec", "clip=0.5,q8s", "--secure-aggregation", "--server", "http://127.0.0.1:9",
                    "--remote-training",
                ]))
        #expect(http.status != 0 && http.stderr.contains("with --remote-training is not built"), "\(http.stderr)")
        let alone = try KbdSimRunner.run(arguments(folder, db: db, extra: ["--secagg-dropout", "0.1"]))
        #expect(alone.status != 0 && alone.stderr.contains("needs --secure-aggregation"), "\(alone.stderr)")
    }
}
