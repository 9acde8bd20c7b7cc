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
        let corpora = ServerProcess.corpora
        let started = try ServerProcess.start(folder: folder)
        let (server, errors, base) = (started.process, started.errors, started.base)
        var log = started.log
        defer { if server.isRunning { server.terminate() } }

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

/// `kbd-sim worker` processes against `kbd-sim server`, one of them killed with SIGKILL
/// while the run goes on (docs/scale-out.md).
@Suite(.serialized)
struct WorkerCommandTests {
    @Test func helpHasAnExample() throws {
        let r = try KbdSimRunner.run(["worker", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Example") && r.stdout.contains("--coordinator"))
    }

    @Test("A run trained by 2 worker processes, one killed with SIGKILL mid-run, ends with the in-process model")
    func killedWorkerIsReplaced() throws {
        let folder = ScratchFolder()
        let corpora = ServerProcess.corpora
        let started = try ServerProcess.start(folder: folder)
        let (server, base) = (started.process, started.base)
        defer { if server.isRunning { server.terminate() } }
        let token = folder.path + "/server.sqlite.token"

        func worker(_ slot: Int) throws -> Process {
            let p = Process()
            p.executableURL = KbdSimRunner.executable
            p.arguments = [
                "worker", "--coordinator", base, "--token-file", token, "--slot", "\(slot)", "--threads", "1",
                "--exit-when-idle", "60", "--json",
            ]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        let doomed = try worker(0)
        let survivor = try worker(1)
        defer { for p in [doomed, survivor] where p.isRunning { p.terminate() } }

        let flags = [
            "--corpus", "synthetic:" + corpora + "/synthetic-tiny.json", "--vocab", "100", "--model", "lstm-tiny",
            "--devices", "2000", "--cohort", "8", "--shard-size", "2", "--rounds", "4", "--eval-every", "2",
            "--local-epochs", "3", "--seed", "9", "--workers", "1", "--json",
        ]
        let driver = Process()
        driver.executableURL = KbdSimRunner.executable
        driver.arguments =
            ["run", "--server", base, "--token-file", token, "--remote-training", "--lease-seconds", "2"] + flags
        let out = Pipe()
        driver.standardOutput = out
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        // Kill one worker while the run is under way: whatever shard it holds is leased again.
        Thread.sleep(forTimeInterval: 1.5)
        kill(doomed.processIdentifier, SIGKILL)
        let remote = out.fileHandleForReading.readDataToEndOfFile()
        driver.waitUntilExit()
        doomed.waitUntilExit()
        #expect(doomed.terminationReason == .uncaughtSignal)
        #expect(driver.terminationStatus == 0)
        let remoteJSON = try JSONSerialization.jsonObject(with: remote) as? [String: Any]
        let remoteSummary = try #require(remoteJSON?["summary"] as? [String: Any])

        let local = try KbdSimRunner.run(["run", "--db", folder.path + "/local.sqlite"] + flags)
        #expect(local.status == 0, "\(local.stderr)")
        let localSummary = try #require(try local.json()["summary"] as? [String: Any])
        #expect(remoteSummary["finished"] as? Bool == true)
        #expect(remoteSummary["model sha256"] as? String != nil)
        #expect(remoteSummary["model sha256"] as? String == localSummary["model sha256"] as? String)

        // The coordinator's store shows what each worker did.
        let show = try KbdSimRunner.run(["runs", "show", "1", "--db", folder.path + "/server.sqlite"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("workers over 4 sharded rounds"), "\(show.stdout)")
        #expect(show.stdout.contains("tokens/s") && show.stdout.contains("s/lease"), "\(show.stdout)")
        let shown = try KbdSimRunner.run(["runs", "show", "1", "--db", folder.path + "/server.sqlite", "--json"])
        let workers = try shown.json()["workers"] as? [[String: Any]] ?? []
        #expect(!workers.isEmpty)
        #expect(workers.reduce(0) { $0 + ($1["shards"] as? Int ?? 0) } >= 16, "4 rounds of 4 shards")
        #expect(workers.allSatisfy { ($0["MB in"] as? Double ?? 0) > 0 && $0["lease s"] != nil })
    }
}

/// `kbd-sim server --port 0` on a scratch store, serving the repository's corpora, once it
/// has said where it listens.
/// The operator token's file: one other users can read is refused without its contents in
/// the message; a symbolic link to a private file (a Kubernetes Secret volume) is accepted.
@Suite struct TokenFileModeTests {
    @Test func aReadableTokenFileIsRefusedAndALinkToAPrivateOneIsNot() throws {
        let folder = ScratchFolder()
        let token = String(repeating: "s3cr3t", count: 8)
        let open = folder.path + "/open.token"
        try #require(
            FileManager.default.createFile(
                atPath: open, contents: Data(token.utf8), attributes: [.posixPermissions: 0o644]))
        let refused = try KbdSimRunner.run([
            "server", "--port", "0", "--db", folder.path + "/a.sqlite", "--token-file", open,
        ])
        #expect(refused.status == 64, "\(refused.stderr)")
        #expect(refused.stderr.contains("can be read by other users") && refused.stderr.contains("chmod 600"))
        #expect(!refused.stderr.contains(token) && !refused.stdout.contains(token))
        // A link (mode 0777 itself) to a 0600 file: the file's mode is what counts.
        let secret = folder.path + "/private.token"
        try #require(
            FileManager.default.createFile(
                atPath: secret, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]))
        let link = folder.path + "/linked.token"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: secret)
        let server = try ServerProcess.start(folder: folder, extra: ["--token-file", link])
        server.process.terminate()
        server.process.waitUntilExit()
        #expect(!server.log.contains(token))
    }
}

struct ServerProcess {
    let process: Process
    /// Its stderr (the tests read the rest of it after stopping it).
    let errors: Pipe
    /// What it printed up to the line naming its URL.
    let log: String
    let base: String

    static let corpora = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("corpora").path

    static func start(folder: ScratchFolder, extra: [String] = []) throws -> ServerProcess {
        let server = Process()
        server.executableURL = KbdSimRunner.executable
        server.arguments =
            ["server", "--port", "0", "--db", folder.path + "/server.sqlite", "--corpora", corpora] + extra
        let errors = Pipe()
        server.standardError = errors
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        // The first stderr line naming the URL tells the port (the server picked a free one).
        var log = ""
        var url: String?
        while url == nil {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the server exited
            log += String(decoding: chunk, as: UTF8.self)
            url = log.firstMatch(of: /listening on (http:\/\/127\.0\.0\.1:\d+)/).map { String($0.1) }
        }
        guard let url else {
            if server.isRunning { server.terminate() }
            throw ServerDidNotStart(log: log)
        }
        return ServerProcess(process: server, errors: errors, log: log, base: url)
    }
}

/// The server exited before it reported its URL; its stderr says why.
struct ServerDidNotStart: Error, CustomStringConvertible {
    var log: String
    var description: String { "the server did not report its URL: \(log)" }
}
