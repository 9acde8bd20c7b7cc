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
            (["--tls-cert", "/tmp/cert.pem"], "--tls-key"),
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

        // The server wrote a random operator token next to its store, readable by its owner only.
        let tokenFile = folder.path + "/server.sqlite.token"
        #expect(log.contains("wrote a new operator token to \(tokenFile)"), "\(log)")
        let mode = try FileManager.default.attributesOfItem(atPath: tokenFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(token.count == 64)
        #expect(!log.contains(token), "the token is never printed")

        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/synthetic-tiny.json").path
        let runArguments = [
            "run", "--server", base, "--corpus", "synthetic:" + spec, "--vocab", "100", "--model", "lstm-tiny",
            "--devices", "2000", "--cohort", "5", "--rounds", "2", "--eval-every", "1", "--workers", "1", "--json",
        ]
        // Without the token, the driver stops before it sends anything, and says where the token is.
        let anonymous = try KbdSimRunner.run(runArguments, environment: ["KBD_SIM_TOKEN": ""])
        #expect(anonymous.status == 64, "\(anonymous.stderr)")
        #expect(anonymous.stderr.contains("--token-file"), "\(anonymous.stderr)")
        // A wrong token is refused by the server with 401.
        let wrongFile = folder.path + "/wrong.token"
        try String(repeating: "w", count: 64).write(toFile: wrongFile, atomically: true, encoding: .utf8)
        let wrong = try KbdSimRunner.run(runArguments + ["--token-file", wrongFile])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("401") || wrong.stderr.contains("unauthenticated"), "\(wrong.stderr)")

        let run = try KbdSimRunner.run(runArguments + ["--token-file", tokenFile])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.stdout.contains(token) && !run.stderr.contains(token))
        let summary = try #require(try run.json()["summary"] as? [String: Any])
        #expect(summary["finished"] as? Bool == true)
        #expect(summary["transport"] as? String == base)

        // An outside client naming a file outside --corpora gets 403 and a reason that says
        // nothing about the file (whether it exists, what it holds), and no run is stored.
        // Without the operator token the same request is 401, before the corpus is looked at.
        for (corpus, credential) in [
            ("/etc/shadow", nil as String?), ("/etc/shadow", token), ("/etc/passwd", token),
            (corpora + "/../Package.swift", token), ("synthetic:/etc/hostname", token), ("/no/such/file", token),
        ] {
            // The configuration the run above stored, as an outside client would send it.
            let shown = try KbdSimRunner.run(["runs", "show", "1", "--db", folder.path + "/server.sqlite", "--json"])
            var configuration = try #require(try shown.json()["configuration"] as? [String: Any])
            configuration["corpus"] = corpus
            let body = try JSONSerialization.data(withJSONObject: configuration)
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments =
                [
                    "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
                    "--data-binary", String(decoding: body, as: UTF8.self), base + "/v1/runs",
                ] + (credential.map { ["-H", "Authorization: Bearer \($0)"] } ?? [])
            let out = Pipe()
            curl.standardOutput = out
            try curl.run()
            let answer = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            curl.waitUntilExit()
            #expect(answer.hasSuffix(credential == nil ? "\n401" : "\n403"), "\(corpus): \(answer)")
            #expect(
                answer.contains(credential == nil ? "unauthenticated" : "forbidden-corpus"), "\(corpus): \(answer)")
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
