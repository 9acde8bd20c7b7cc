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
        server.arguments = ["server", "--port", "0", "--db", folder.path + "/server.sqlite"]
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

        server.terminate()  // SIGTERM
        let rest = errors.fileHandleForReading.readDataToEndOfFile()
        server.waitUntilExit()
        log += String(decoding: rest, as: UTF8.self)
        #expect(server.terminationStatus == 0, "\(log)")
        #expect(log.contains("round 2 committed"), "\(log)")
        #expect(log.contains("server stopped"), "\(log)")
    }
}
