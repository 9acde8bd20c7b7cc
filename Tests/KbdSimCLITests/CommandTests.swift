import Foundation
import Testing

/// End-to-end tests of the `kbd-sim` executable: what it prints, and how it fails.
@Suite(.serialized)
struct CommandTests {
    @Test func helpHasExamplesForEveryCommand() throws {
        for command in [
            ["eval"], ["predict"], ["train"], ["corpus", "stats"], ["corpus", "oracle"], ["codec", "bench"],
            ["fleet", "simulate"], ["fleet", "bench"], ["report"], ["runs", "list"], ["bench", "secagg"],
        ] {
            let r = try KbdSimRunner.run(command + ["--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("Example"), "\(command) --help has no example")
        }
    }

    @Test func benchSecAggSumsExactlyAndReportsCostsPerStage() throws {
        let r = try KbdSimRunner.run([
            "bench", "secagg", "--cohorts", "12", "--dropouts", "0,0.2", "--bits", "8", "--length", "64", "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.count == 2)
        for row in rows {
            #expect(row["exact"] as? Bool == true)
            // m = 8 + ⌈log2 12⌉; the masked input is 16 + ⌈64 · 12 / 8⌉ bytes.
            #expect(row["m"] as? Int == 12)
            #expect(row["up masked B"] as? Double == 112)
            #expect((row["stages"] as? [Any])?.count == 4)
        }
        #expect(rows[1]["contributors"] as? Int ?? 12 < 12)
        let zlib = try #require(json["zlib"] as? [[String: Any]])
        #expect(zlib.first?["masked B"] as? Int == 96)
        let refused = try KbdSimRunner.run(["bench", "secagg", "--cohorts", "100000", "--bits", "16"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("is not a cohort size in 2…65,536"))
    }

    @Test func evalPrintsATableAndJSON() throws {
        let folder = ScratchFolder()
        let corpus = folder.smallCorpus()
        let table = try KbdSimRunner.run(["eval", "--model", "kn3", "--corpus", corpus, "--vocab", "50"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("acc@1"))
        let r = try KbdSimRunner.run(["eval", "--model", "kn3", "--corpus", corpus, "--vocab", "50", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        let acc1 = try #require(json["acc@1"] as? Double)
        let acc3 = try #require(json["acc@3"] as? Double)
        #expect(acc1 > 0.3 && acc3 >= acc1)
        // Evaluation users are user00, user05 and user10 (every fifth, sorted): 90 messages.
        let lengths = [5, 5, 6, 4, 5, 4, 4]
        let expected = [0, 5, 10].reduce(0) { sum, u in sum + (0..<30).reduce(0) { $0 + lengths[(u + $1) % 7] } }
        #expect(json["predictions"] as? Int == expected)
        #expect(json["ppl"] as? Double != nil)
        #expect(json["acc@1-iv"] as? Double != nil)
    }

    @Test func exportedARPAServesPredictAndEval() throws {
        let folder = ScratchFolder()
        let corpus = folder.smallCorpus()
        let arpa = folder.path + "/kn3.arpa"
        let trained = try KbdSimRunner.run([
            "eval", "--model", "kn3", "--corpus", corpus, "--vocab", "50", "--export-arpa", arpa, "--json",
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        let loaded = try KbdSimRunner.run(["eval", "--model", arpa, "--corpus", corpus, "--vocab", "50", "--json"])
        #expect(loaded.status == 0, "\(loaded.stderr)")
        #expect(try trained.json()["acc@1"] as? Double == loaded.json()["acc@1"] as? Double)
        #expect(try trained.json()["ppl"] as? Double == loaded.json()["ppl"] as? Double)
        let p = try KbdSimRunner.run(["predict", "--model", arpa, "--json", "See you at the"])
        #expect(p.status == 0, "\(p.stderr)")
        let suggestions = try #require(p.json()["suggestions"] as? [String])
        #expect(suggestions.count == 3)
        #expect(suggestions.first == "station")  // "at the" is only ever followed by "station"
    }

    @Test func corpusStatsReportsCountsAndFingerprints() throws {
        let folder = ScratchFolder()
        let r = try KbdSimRunner.run(["corpus", "stats", folder.smallCorpus(), "--vocab", "50", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        #expect(json["users"] as? Int == 12)
        #expect(json["messages"] as? Int == 360)
        #expect((json["corpus fingerprint"] as? String)?.count == 64)
    }

    @Test func codecBenchReportsEverySchemeAsJSON() throws {
        let r = try KbdSimRunner.run([
            "codec", "bench", "--params", "3000", "--schemes", "f32;rot,q8s,z1;rot,q1s", "--repeats", "1", "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try #require(r.json()["rows"] as? [[String: Any]])
        #expect(rows.count == 6)  // three schemes × two synthetic deltas
        let f32 = try #require(rows.first { $0["scheme"] as? String == "f32" })
        #expect(f32["relL2Error"] as? Double == 0)
        #expect((f32["bytesPerParam"] as? Double ?? 0) > 4)  // float32 plus the header
        let oneBit = try #require(
            rows.first { $0["scheme"] as? String == "rot,q1s" && $0["delta"] as? String == "gaussian" })
        #expect((oneBit["ratioToF32"] as? Double ?? 0) > 20)
    }

    @Test(
        "bad input exits non-zero with a clear message and never crashes",
        arguments: [
            (["eval", "--model", "kn3", "--corpus", "/nonexistent/sms.zip"], "no such file"),
            (["eval", "--model", "kn3", "--corpus", "CORPUS", "--vocab", "0"], "--vocab"),
            (["eval", "--model", "kn9", "--corpus", "CORPUS"], "kn1 … kn5"),
            (["eval", "--model", "kn3", "--corpus", "ONEUSER"], "at least 2 users"),
            (["eval", "--model", "kn3", "--corpus", "NOTZIP"], "zip"),
            (["predict", "--model", "BADARPA", "hello"], "\\data\\"),
            (["predict", "--model", "/nonexistent/model.arpa", "hello"], "no such model file"),
            (["corpus", "stats", "EMPTY"], "no non-empty message"),
            (["codec", "bench", "--schemes", "q9s"], "q9s"),
            (["codec", "bench", "--schemes", "q0s"], "q0s"),
            (["codec", "bench", "--schemes", "q8s,z10"], "z10"),
            (["codec", "bench", "--schemes", "bogus"], "bogus"),
            (["codec", "bench", "--params", "0"], "--params"),
        ] as [([String], String)])
    func badInput(_ arguments: [String], _ expected: String) throws {
        let folder = ScratchFolder()
        let substitutions = [
            "CORPUS": folder.smallCorpus(),
            "ONEUSER": folder.write("one.txt", "hello there\nhow are you\n"),
            "NOTZIP": folder.write("fake.zip", "PK\u{3}\u{4} this is not really a zip archive at all"),
            "BADARPA": folder.write("bad.arpa", "this is not an arpa file\n"),
            "EMPTY": folder.write("empty.txt", "!!!\n...\n"),
        ]
        let r = try KbdSimRunner.run(arguments.map { substitutions[$0] ?? $0 })
        #expect(r.status != 0)
        #expect(r.status < 128, "killed by a signal: \(r.status)")
        #expect((r.stderr + r.stdout).contains(expected), "stderr: \(r.stderr)")
    }
}

/// The neural model, the fleet and the synthetic corpus through the CLI.
@Suite(.serialized)
struct NeuralFleetAndSyntheticCommandTests {
    @Test func trainedModelServesEvalAndPredict() throws {
        let folder = ScratchFolder()
        let corpus = folder.smallCorpus()
        let out = folder.path + "/tiny.kbdlm"
        let safetensors = folder.path + "/tiny.safetensors"
        let train = try KbdSimRunner.run([
            "train", "--model", "lstm-tiny", "--corpus", corpus, "--vocab", "40", "--epochs", "2", "--batch", "8",
            "--lr", "0.02", "--threads", "1", "--out", out, "--safetensors", safetensors, "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        let epochs = try #require(train.json()["epochs"] as? [[String: Any]])
        #expect(epochs.count == 2)
        let lastAcc = try #require(epochs.last?["acc@1"] as? Double)
        #expect(FileManager.default.fileExists(atPath: safetensors))
        let eval = try KbdSimRunner.run(["eval", "--model", out, "--corpus", corpus, "--vocab", "40", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(try eval.json()["acc@1"] as? Double == lastAcc)
        let predict = try KbdSimRunner.run(["predict", "--model", out, "--json", "see you at"])
        #expect(predict.status == 0, "\(predict.stderr)")
        #expect(try (predict.json()["suggestions"] as? [String])?.count == 3)

        // A second checkpoint trained on from the first, and the codec on their real delta.
        let next = folder.path + "/tiny-next.kbdlm"
        let more = try KbdSimRunner.run([
            "train", "--model", "lstm-tiny", "--corpus", corpus, "--vocab", "40", "--epochs", "1", "--batch", "8",
            "--lr", "0.02", "--threads", "1", "--initial", out, "--out", next,
        ])
        #expect(more.status == 0, "\(more.stderr)")
        let codec = try KbdSimRunner.run([
            "codec", "bench", "--checkpoints", out + "," + next, "--schemes", "f32;rot,q8s,z1", "--repeats", "1",
            "--json",
        ])
        #expect(codec.status == 0, "\(codec.stderr)")
        let rows = try #require(codec.json()["rows"] as? [[String: Any]])
        #expect(rows.count == 2)
        #expect(rows.first?["relL2Error"] as? Double == 0)
        // A model trained with another vocabulary cannot be continued.
        let mismatch = try KbdSimRunner.run([
            "train", "--model", "lstm-tiny", "--corpus", corpus, "--vocab", "20", "--epochs", "1", "--initial", out,
            "--out", next,
        ])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("vocabulary"), "\(mismatch.stderr)")
    }

    @Test(
        "train --participants-of trains on exactly the users whose phones reported; another corpus, vocabulary, run or store is refused"
    )
    func trainOnParticipants() throws {
        let folder = ScratchFolder()
        let corpus = folder.smallCorpus()
        let db = folder.path + "/runs.sqlite"
        let run = try KbdSimRunner.run([
            "run", "--corpus", corpus, "--vocab", "40", "--model", "kn3", "--cohort", "2", "--rounds", "6",
            "--round-interval", "3600", "--min-report-fraction", "0.5", "--db", db, "--json",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let base = [
            "train", "--model", "lstm-tiny", "--corpus", corpus, "--epochs", "1", "--batch", "8", "--threads", "1",
            "--out", folder.path + "/p.kbdlm",
        ]
        let train = try KbdSimRunner.run(base + ["--vocab", "40", "--participants-of", "1", "--db", db, "--json"])
        #expect(train.status == 0, "\(train.stderr)")
        // 9 training users of 30 messages each: the kept messages are 30 per reached user.
        let line = try #require(train.stderr.split(separator: "\n").first { $0.hasPrefix("run 1:") })
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(numbers.count == 5, "\(line)")
        let (reached, users, kept, all) = (numbers[1], numbers[2], numbers[3], numbers[4])
        #expect(users == 9 && all == 270)
        #expect(reached >= 1 && reached <= users && kept == 30 * reached, "\(line)")
        // kbd-sim run's own summary reports the same coverage.
        let summary = try #require(run.json()["summary"] as? [String: Any])
        #expect(summary["reporting users"] as? Int == reached && summary["training users"] as? Int == users)
        #expect(summary["their messages"] as? Int == kept && summary["training messages"] as? Int == all)
        for (extra, expected) in [
            (["--vocab", "30", "--participants-of", "1", "--db", db], "--vocab 40"),
            (["--vocab", "40", "--participants-of", "9", "--db", db], "9"),
            (["--vocab", "40", "--participants-of", "1", "--db", folder.path + "/none.sqlite"], "no run store"),
        ] {
            let r = try KbdSimRunner.run(base + extra)
            #expect(r.status != 0, "\(extra)")
            #expect(r.stderr.contains(expected), "\(extra): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/none.sqlite"))
        // A synthetic run has no fixed text per phone to train on centrally.
        let synthetic = try KbdSimRunner.run([
            "run", "--corpus", "synthetic:" + RunCommandTests.tinySpec, "--vocab", "12", "--model", "kn3", "--devices",
            "3000",
            "--cohort", "8", "--rounds", "1", "--db", folder.path + "/syn.sqlite",
        ])
        #expect(synthetic.status == 0, "\(synthetic.stderr)")
        #expect(!synthetic.stdout.contains("phones that reported"))
        let refused = try KbdSimRunner.run([
            "train", "--model", "lstm-tiny", "--corpus", "synthetic:" + RunCommandTests.tinySpec, "--vocab", "12",
            "--epochs", "1",
            "--participants-of", "1", "--db", folder.path + "/syn.sqlite", "--out", folder.path + "/s.kbdlm",
        ])
        #expect(refused.status != 0 && refused.stderr.contains("file corpora"), "\(refused.stderr)")
    }

    @Test func trainRejectsImpossibleSettings() throws {
        let folder = ScratchFolder()
        let corpus = folder.smallCorpus()
        for (extra, expected) in [
            (["--model", "no-such-model"], "no-such-model"),
            (["--model", "lstm-tiny", "--epochs", "0"], "--epochs"),
            (["--model", "lstm-tiny", "--lr", "nan"], "--lr"),
            (["--model", "lstm-tiny", "--threads", "3"], "--threads"),
        ] {
            let r = try KbdSimRunner.run(["train", "--corpus", corpus, "--out", folder.path + "/m.kbdlm"] + extra)
            #expect(r.status == 64, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains(expected), "\(extra): \(r.stderr)")
        }
        let truncated = folder.write("bad.kbdlm", "KBDKEYB1\u{1}\u{0}\u{0}\u{0}")
        let r = try KbdSimRunner.run(["predict", "--model", truncated, "hi"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.kbdlm"), "\(r.stderr)")
    }

    @Test func syntheticCorpusAndOracle() throws {
        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
        let oracle = try KbdSimRunner.run(["corpus", "oracle", "synthetic:" + spec, "--vocab", "100", "--json"])
        #expect(oracle.status == 0, "\(oracle.stderr)")
        let eval = try KbdSimRunner.run([
            "eval", "--model", "kn3", "--corpus", "synthetic:" + spec, "--vocab", "100", "--json",
        ])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(try eval.json()["predictions"] as? Int ?? 0 > 0)
        let bad = try KbdSimRunner.run(["eval", "--model", "kn3", "--corpus", "synthetic:/nonexistent/spec.json"])
        #expect(bad.status != 0 && bad.status < 128)
    }

    @Test func fleetSimulateWritesCSVAndSVG() throws {
        let folder = ScratchFolder()
        let csv = folder.path + "/fleet.csv"
        let svg = folder.path + "/fleet.svg"
        let r = try KbdSimRunner.run([
            "fleet", "simulate", "--devices", "20000", "--days", "1", "--cohort", "50", "--csv", csv, "--svg", svg,
            "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let csvText = try String(contentsOfFile: csv, encoding: .utf8)
        #expect(csvText.split(separator: "\n").count >= 25)  // header + 24 hours
        #expect(try String(contentsOfFile: svg, encoding: .utf8).contains("<svg"))
        let bench = try KbdSimRunner.run([
            "fleet", "bench", "--devices", "50000", "--cohort", "100", "--repeats", "2", "--json",
        ])
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect(try (bench.json()["selections"] as? [[String: Any]])?.count == 4)
        #expect(try bench.json()["bytes per device"] as? Int ?? 99 <= 64)
        let tooBig = try KbdSimRunner.run(["fleet", "simulate", "--devices", "100", "--cohort", "500"])
        #expect(tooBig.status == 64, "\(tooBig.stderr)")
    }
}
