import FederationHTTP
import FederationProtocol
import FederationServer
import Foundation
import Logging
import RunStore
import Synchronization
import Testing

/// The credential authority on its own: what it issues, what it accepts, and what it refuses
/// with which reason.
struct CredentialAuthorityTests {
    private let authority: CredentialAuthority

    init() throws {
        authority = try CredentialAuthority(operatorToken: testOperatorToken)
    }

    /// `body` must throw a ServerRejection with `reason`.
    private func refused(_ reason: ServerRejection.Reason, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("accepted; expected \(reason.rawValue)")
        } catch let error as ServerRejection {
            #expect(error.reason == reason, "\(error)")
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("threw \(error); expected a ServerRejection")
        }
    }

    @Test("A short operator token is refused at start, and the generated one is 64 hex digits")
    func operatorTokenLength() {
        #expect(throws: ServerRejection.self) { try CredentialAuthority(operatorToken: "hunter2") }
        let token = CredentialAuthority.generateToken()
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
        #expect(token != CredentialAuthority.generateToken())
    }

    @Test("The operator token is accepted; a wrong one, none, or a run credential is refused")
    func operatorToken() throws {
        try authority.requireOperator(testOperatorToken, for: "test")
        try authority.requireOperator(" \(testOperatorToken)\n", for: "test")
        refused(.unauthenticated) { try authority.requireOperator(nil, for: "test") }
        refused(.unauthenticated) {
            try authority.requireOperator(testOperatorToken + "x", for: "test")
        }
        let run = authority.attach(run: 1)
        refused(.forbiddenCredential) { try authority.requireOperator(run, for: "test") }
    }

    @Test("A run credential works for its run's current attachment only")
    func runCredential() throws {
        let first = authority.attach(run: 7)
        try authority.requireRun(first, run: 7, for: "test")
        refused(.forbiddenCredential) { try authority.requireRun(first, run: 8, for: "test") }
        let second = authority.attach(run: 7)
        try authority.requireRun(second, run: 7, for: "test")
        refused(.forbiddenCredential) { try authority.requireRun(first, run: 7, for: "test") }
        authority.detach(run: 7)
        refused(.forbiddenCredential) { try authority.requireRun(second, run: 7, for: "test") }
    }

    @Test("A device credential is bound to its run, round and device, and expires when the round closes")
    func deviceCredential() throws {
        _ = authority.attach(run: 3)
        let issued = authority.openRound(run: 3, round: 5, devices: [10, 11])
        #expect(issued.map(\.device) == [10, 11])
        let ten = try #require(issued.first?.credential)
        let binding = try authority.requireDevice(ten, run: 3, round: 5, device: 10, for: "test")
        #expect(binding == .init(run: 3, round: 5, device: 10))
        #expect(try authority.requireDevice(ten, run: 3, round: 5, device: nil, for: "test").device == 10)
        refused(.forbiddenCredential) {
            _ = try authority.requireDevice(ten, run: 3, round: 5, device: 11, for: "test")
        }
        refused(.forbiddenCredential) {
            _ = try authority.requireDevice(ten, run: 3, round: 6, device: 10, for: "test")
        }
        refused(.forbiddenCredential) {
            _ = try authority.requireDevice(ten, run: 4, round: 5, device: 10, for: "test")
        }
        // A device credential is not a run credential, nor the reverse.
        refused(.forbiddenCredential) { try authority.requireRun(ten, run: 3, for: "test") }
        let run = authority.attach(run: 9)
        refused(.forbiddenCredential) {
            _ = try authority.requireDevice(run, run: 9, round: 1, device: 1, for: "test")
        }
        authority.roundClosed(run: 3, round: 5)
        refused(.forbiddenCredential) {
            _ = try authority.requireDevice(ten, run: 3, round: 5, device: 10, for: "test")
        }
    }

    @Test("Every one-character change of a credential, and one from another server, is refused as unauthenticated")
    func tampering() throws {
        _ = authority.attach(run: 2)
        let credential = try #require(authority.openRound(run: 2, round: 1, devices: [4]).first?.credential)
        let characters = Array(credential)
        // Brute force over the tag and the binding: each position changed to another character.
        for position in characters.indices where characters[position] != "." {
            var changed = characters
            changed[position] = changed[position] == "0" ? "1" : "0"
            let text = String(changed)
            do {
                try authority.requireDevice(text, run: 2, round: 1, device: nil, for: "test")
                Issue.record("a credential changed at \(position) was accepted")
            } catch {
                // The tag covers the binding: a changed field fails the tag, like a changed tag.
                #expect(error.reason == .unauthenticated, "position \(position): \(error)")
            }
        }
        let other = try CredentialAuthority(operatorToken: testOperatorToken)
        _ = other.attach(run: 2)
        let foreign = try #require(other.openRound(run: 2, round: 1, devices: [4]).first?.credential)
        refused(.unauthenticated) {
            _ = try authority.requireDevice(foreign, run: 2, round: 1, device: 4, for: "test")
        }
        refused(.unauthenticated) {
            _ = try authority.requireDevice("kbd-dev.v1.garbage", run: 2, round: 1, device: 4, for: "test")
        }
    }

    @Test("No refusal message contains the credential it refused")
    func messagesDoNotEchoCredentials() throws {
        let run = authority.attach(run: 5)
        let device = try #require(authority.openRound(run: 5, round: 1, devices: [1]).first?.credential)
        let attempts: [() throws -> Void] = [
            { try authority.requireOperator(run, for: "r") },
            { try authority.requireRun(device, run: 5, for: "r") },
            { _ = try authority.requireDevice(device, run: 5, round: 1, device: 2, for: "r") },
            { _ = try authority.requireDevice(run, run: 5, round: 1, device: 1, for: "r") },
        ]
        for attempt in attempts {
            do {
                try attempt()
                Issue.record("accepted")
            } catch let error as ServerRejection {
                for secret in [run, device, testOperatorToken] {
                    #expect(!error.message.contains(secret))
                    #expect(!error.message.contains(String(secret.split(separator: ".").last ?? "")))
                }
            } catch {
                Issue.record("threw \(error)")
            }
        }
    }
}

/// Credentials over HTTP: their lifecycle, the logs, and TLS.
struct CredentialLifecycleTests {
    @Test("A device's credential expires when its round closes; a resume supersedes the earlier run credential")
    func expiryAndSupersession() async throws {
        let aggregation = AggregationServer(store: try RunStore.inMemory())
        try await withLiveServer(aggregation) { base in
            let round = try await ManualRound.open(at: base)
            try await round.upload(device: 0)
            let device5 = round.credential(ofDevice: 5)
            let oldRun = round.runCredential
            _ = try await round.complete()

            // Round 1 is closed: device 5's credential has expired.
            let expired = await #expect(throws: HTTPRejection.self) {
                try await round.raw(
                    "PUT", "v1/runs/\(round.run)/rounds/1/updates/5", body: Data(try round.update(device: 5)),
                    credential: device5, headers: [HTTPTransport.extrasHeader: try round.extrasJSON()])
            }
            #expect(expired?.status == 403 && expired?.reason == .forbiddenCredential)
            #expect(expired?.message.contains("expired") == true, "\(expired?.message ?? "")")

            // Interrupt, then resume through another driver: the first driver's credential is superseded.
            try await round.transport.finishRun(round.run, finished: false)
            let second = try HTTPTransport(baseURL: base.absoluteString, token: testOperatorToken)
            let attachment = try await second.resumeRun(id: round.run)
            #expect(attachment.nextRound == 2)
            let superseded = await #expect(throws: HTTPRejection.self) {
                try await round.raw(
                    "POST", "v1/runs/\(round.run)/finish", body: Data("{\"finished\":true}".utf8), credential: oldRun)
            }
            #expect(superseded?.status == 403 && superseded?.reason == .forbiddenCredential)
            #expect(superseded?.message.contains("superseded") == true, "\(superseded?.message ?? "")")
            try await second.finishRun(round.run, finished: true)
        }
    }

    @Test("Refused credentials are logged by route and reason, never by value")
    func logsHoldNoCredentials() async throws {
        let lines = LogLines()
        var logger = Logger(label: "kbd-sim.server.test") { _ in CapturingHandler(lines: lines) }
        logger.logLevel = .trace
        let aggregation = AggregationServer(store: try RunStore.inMemory())
        try await withLiveServer(aggregation, logger: logger) { base in
            let round = try await ManualRound.open(at: base)
            let secrets = [testOperatorToken, round.runCredential, round.credential(ofDevice: 1)]
            _ = try? await round.raw(
                "PUT", "v1/runs/\(round.run)/rounds/1/updates/1", body: Data(try round.update(device: 1)),
                credential: round.credential(ofDevice: 2), headers: [HTTPTransport.extrasHeader: try round.extrasJSON()]
            )
            _ = try? await round.raw("GET", "v1/status", credential: round.credential(ofDevice: 1))
            _ = try? await round.raw("GET", "metrics", credential: round.runCredential + "x")
            try await round.upload(device: 1)
            _ = try await round.complete()
            let logged = lines.all
            #expect(logged.contains { $0.contains("refused") }, "the refusals are logged")
            for line in logged {
                for secret in secrets {
                    #expect(!line.contains(secret))
                    #expect(!line.contains(String(secret.split(separator: ".").last ?? "")))
                }
            }
        }
    }

    @Test(
        "With TLS the server answers HTTPS to a client that trusts its certificate, and no client that does not",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs openssl to make a certificate"),
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "needs curl as the HTTPS client"))
    func tls() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kbd-sim-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let cert = folder.appendingPathComponent("cert.pem").path
        let key = folder.appendingPathComponent("key.pem").path
        let made = try runTool(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        #expect(made.status == 0, "\(made.output)")

        let aggregation = AggregationServer(store: try RunStore.inMemory())
        try await withLiveServer(aggregation, tls: TLSFiles(certificateChain: cert, privateKey: key)) { base in
            #expect(base.scheme == "https")
            let status = base.appendingPathComponent("v1/status").absoluteString
            let trusted = try runTool(
                "/usr/bin/curl",
                ["-sS", "--cacert", cert, "-H", "Authorization: Bearer \(testOperatorToken)", status])
            #expect(trusted.status == 0, "\(trusted.output)")
            #expect(trusted.output.contains("\"runs\""), "\(trusted.output)")
            // The same request without trusting the certificate fails its verification (curl exit 60).
            let untrusted = try runTool(
                "/usr/bin/curl", ["-sS", "-H", "Authorization: Bearer \(testOperatorToken)", status])
            #expect(untrusted.status == 60, "\(untrusted.output)")
            // Plain HTTP to the TLS port gets no answer.
            let plain = try runTool(
                "/usr/bin/curl",
                ["-sS", "-m", "5", "http://127.0.0.1:\(base.port ?? 0)/v1/status"])
            #expect(plain.status != 0)
        }
    }

    @Test("An unreadable TLS key or certificate stops the server with a message naming the file, not its contents")
    func badTLSFiles() async throws {
        let aggregation = AggregationServer(store: try RunStore.inMemory())
        let failure = await #expect(throws: TLSFiles.Failure.self) {
            try await withLiveServer(
                aggregation,
                tls: TLSFiles(certificateChain: "/nonexistent/cert.pem", privateKey: "/nonexistent/key.pem")
            ) { _ in }
        }
        #expect(failure?.description.contains("--tls-cert /nonexistent/cert.pem") == true)
    }
}

/// Runs `tool` with `arguments`; its exit status and its stdout and stderr together.
private func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Log lines, collected across threads.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A log handler that keeps every message with its metadata.
struct CapturingHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append("\(event.level) \(event.message) \(event.metadata ?? [:]) \(metadata)")
    }
}
