import Foundation
import Testing

/// `kbd-sim server`: its flags, and one live run of `kbd-sim run --server` against it.
@Suite(.serialized)
struct ServerCommandTests {

    @Test func helpHasAnExample() throws {
        let r = try KbdSimRunner.run(["server", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Example"))
        #expect(r.stdout.contains("--port"))
    }

    @Test(
        "Bad flags exit with 64 and name the flag",
        arguments: [
            (["--port", "70000"], "--port"),
            (["--port", "-1"], "--port"),
            (["--db", "/nonexistent-folder/runs.sqlite"], "--db"),
            (["--db", NSTemporaryDirectory()], "--db"),
            (["--log-level", "loud"], "--log-level"),
        ])
    func badFlagsAreValidationErrors(_ arguments: [String], flag: String) throws {
        let r = try KbdSimRunner.run(["server"] + arguments)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(flag), "\(r.stderr)")
    }

    @Test func aRunOverHTTPFinishesAndSIGTERMStopsTheServerGracefully() throws {
        let folder = ScratchFolder()
        let server = Process()
        server.executableURL = KbdSimRunner.executable
        let corpora = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora").path
        server.arguments = ["server", "--port", "0", "--db", folder.path + "/server.sqlite", "--corpora", corpora]
        let errors = Pipe()
        server.standardError = errors
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.terminate() } }

        // The first stderr line naming the URL tells the port (the server picked a free one).
        var log = ""
        var url: String?
        while url == nil {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the server exited
            log += String(decoding: chunk, as: UTF8.self)
            url = log.firstMatch(of: /listening on (http:\/\/127\.0\.0\.1:\d+)/).map { String($0.1) }
        }
        let base = try #require(url, "the server did not report its URL: \(log)")

        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
        let run = try KbdSimRunner.run([
            "run", "--server", base, "--corpus", "synthetic:" + spec, "--vocab", "100", "--model", "lstm-tiny",
            "--devices", "2000", "--cohort", "5", "--rounds", "2", "--eval-every", "1", "--workers", "1", "--json",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try #require(try run.json()["summary"] as? [String: Any])
        #expect(summary["finished"] as? Bool == true)
        #expect(summary["transport"] as? String == base)

        // An outside client naming a file outside --corpora gets 403 and a reason that says
        // nothing about the file (whether it exists, what it holds), and no run is stored.
        for corpus in [
            "/etc/shadow", "/etc/passwd", corpora + "/../Package.swift", "synthetic:/etc/hostname", "/no/such/file",
        ] {
            // The configuration the run above stored, as an outside client would send it.
            let shown = try KbdSimRunner.run(["runs", "show", "1", "--db", folder.path + "/server.sqlite", "--json"])
            var configuration = try #require(try shown.json()["configuration"] as? [String: Any])
            configuration["corpus"] = corpus
            let body = try JSONSerialization.data(withJSONObject: configuration)
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = [
                "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
                "--data-binary", String(decoding: body, as: UTF8.self), base + "/v1/runs",
            ]
            let out = Pipe()
            curl.standardOutput = out
            try curl.run()
            let answer = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            curl.waitUntilExit()
            #expect(answer.hasSuffix("\n403"), "\(corpus): \(answer)")
            #expect(answer.contains("forbidden-corpus"), "\(corpus): \(answer)")
            for leak in ["root", "shadow", "passwd", "exist", "permission", "hostname", "Package"] {
                #expect(!answer.contains(leak), "\(corpus): the answer mentions \(leak): \(answer)")
            }
        }

        server.terminate()  // SIGTERM
        let rest = errors.fileHandleForReading.readDataToEndOfFile()
        server.waitUntilExit()
        log += String(decoding: rest, as: UTF8.self)
        #expect(server.terminationStatus == 0, "\(log)")
        #expect(log.contains("round 2 committed"), "\(log)")
        #expect(log.contains("server stopped"), "\(log)")
    }
}
