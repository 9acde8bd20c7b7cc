import FederationHTTP
import FederationProtocol
import FederationServer
import Foundation
import RunStore
import Testing

/// One request the server must refuse, and how.
struct Refusal: Sendable, CustomTestStringConvertible {
    var name: String
    var status: Int
    var reason: ServerRejection.Reason
    var send: @Sendable (ManualRound) async throws -> Void

    init(
        _ name: String, _ status: Int, _ reason: ServerRejection.Reason,
        send: @escaping @Sendable (ManualRound) async throws -> Void
    ) {
        self.name = name
        self.status = status
        self.reason = reason
        self.send = send
    }

    var testDescription: String { name }
}

/// The server's limit on update bodies in these tests: above the tiny model's own limit
/// (5 bytes per parameter + 1 MiB), so both limits can be hit.
let testUpdateLimit = 4 << 20

struct RefusalTests {
    static let refusals: [Refusal] = [
        Refusal("random bytes as an update", 400, .malformedUpdate) { r in
            var generator = SystemRandomNumberGenerator()
            try await r.upload(device: 1, bytes: (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
        },
        Refusal("a truncated update", 400, .malformedUpdate) { r in
            let update = try r.update(device: 1)
            try await r.upload(device: 1, bytes: Array(update.prefix(update.count / 2)))
        },
        Refusal("an update over the model's limit", 413, .oversizedUpdate) { r in
            try await r.upload(device: 1, bytes: [UInt8](repeating: 0, count: 2 << 20))
        },
        Refusal("a body over the server's limit", 413, .oversizedUpdate) { r in
            try await r.upload(device: 1, bytes: [UInt8](repeating: 0, count: testUpdateLimit + 1))
        },
        Refusal("a different update from a device that already reported", 409, .conflictingReplay) { r in
            try await r.upload(device: 0, bytes: try r.update(device: 0, variant: 1))
        },
        Refusal("an update trained for another round", 409, .wrongRound) { r in
            try await r.upload(device: 1, bytes: try r.update(device: 1, round: 2))
        },
        Refusal("an upload to a round that is not open, with the open round's credential", 403, .forbiddenCredential) {
            r in
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/2/updates/1", body: Data(try r.update(device: 1, round: 2)),
                credential: r.credential(ofDevice: 1), headers: [HTTPTransport.extrasHeader: try r.extrasJSON()])
        },
        Refusal("an upload from a device that was not selected (it holds no credential)", 401, .unauthenticated) { r in
            try await r.upload(device: 9)
        },
        Refusal("an update sent as another device's", 403, .unknownDevice) { r in
            try await r.upload(device: 1, bytes: try r.update(device: 2))
        },
        Refusal("a check-in from a device that was not selected (it holds no credential)", 401, .unauthenticated) { r in
            _ = try await r.transport.checkIn(run: r.run, round: 1, device: 1999)
        },
        Refusal("a report after the deadline", 410, .afterDeadline) { r in
            try await r.upload(device: 1, virtualTime: r.deadline + 1)
        },
        Refusal("a check-in for another run with this run's device credential", 403, .forbiddenCredential) { r in
            try await r.raw(
                "POST", "v1/runs/\(r.run + 1000)/rounds/1/checkin",
                body: try JSONEncoder().encode(CheckInRequest(device: 1)),
                credential: r.credential(ofDevice: 1))
        },
        // Credentials (docs/server.md): each route takes one kind, bound to its run, round and device.
        Refusal("an upload without a credential", 401, .unauthenticated) { r in
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/1/updates/1", body: Data(try r.update(device: 1)), credential: nil,
                headers: [HTTPTransport.extrasHeader: try r.extrasJSON()])
        },
        Refusal("an upload with a forged credential", 401, .unauthenticated) { r in
            var forged = Array(r.credential(ofDevice: 1))
            forged[forged.count - 2] = forged[forged.count - 2] == "A" ? "B" : "A"
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/1/updates/1", body: Data(try r.update(device: 1)),
                credential: String(forged), headers: [HTTPTransport.extrasHeader: try r.extrasJSON()])
        },
        Refusal("a credential whose binding was rewritten to another device", 401, .unauthenticated) { r in
            let rewritten = r.credential(ofDevice: 2).replacingOccurrences(of: ".1.2.", with: ".1.1.")
            #expect(rewritten != r.credential(ofDevice: 2), "round 1, device 2 becomes device 1")
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/1/updates/1", body: Data(try r.update(device: 1)),
                credential: rewritten, headers: [HTTPTransport.extrasHeader: try r.extrasJSON()])
        },
        Refusal("an upload with another device's credential", 403, .forbiddenCredential) { r in
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/1/updates/1", body: Data(try r.update(device: 1)),
                credential: r.credential(ofDevice: 2), headers: [HTTPTransport.extrasHeader: try r.extrasJSON()])
        },
        Refusal("a check-in with another device's credential", 403, .forbiddenCredential) { r in
            try await r.raw(
                "POST", "v1/runs/\(r.run)/rounds/1/checkin", body: try JSONEncoder().encode(CheckInRequest(device: 3)),
                credential: r.credential(ofDevice: 2))
        },
        Refusal("a device closing the round", 403, .forbiddenCredential) { r in
            let closing = RoundClosing(
                round: 1, virtualStart: r.virtualStart, virtualEnd: r.virtualStart + 60, selected: 8, dropped: 0,
                stragglers: 0, surplus: 0, bytesDown: 0, wallSeconds: 0, trainSeconds: 0)
            try await r.raw(
                "POST", "v1/runs/\(r.run)/rounds/1/close", body: try JSONEncoder().encode(closing),
                credential: r.credential(ofDevice: 1))
        },
        Refusal("a run credential creating a run", 403, .forbiddenCredential) { r in
            try await r.raw(
                "POST", "v1/runs", body: Data(tinyRunConfiguration().encodedJSON().utf8), credential: r.runCredential)
        },
        Refusal("the operator token as a device's", 401, .unauthenticated) { r in
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/1/updates/1", body: Data(try r.update(device: 1)),
                credential: testOperatorToken, headers: [HTTPTransport.extrasHeader: try r.extrasJSON()])
        },
        Refusal("the status with a wrong token", 401, .unauthenticated) { r in
            try await r.raw("GET", "v1/status", credential: String(repeating: "x", count: 40))
        },
        Refusal("the metrics without a credential", 401, .unauthenticated) { r in
            try await r.raw("GET", "metrics", credential: nil)
        },
        Refusal("resuming a run the store does not have", 404, .unknownRun) { r in
            _ = try await r.transport.resumeRun(id: r.run + 1000)
        },
        Refusal("opening a second round while one is open", 409, .roundAlreadyOpen) { r in
            try await r.transport.openRound(
                run: r.run, RoundOpening(round: 2, selected: [1], virtualStart: r.virtualStart, deadline: r.deadline))
        },
        Refusal("a body that is not JSON", 400, .badRequest) { r in
            try await r.raw(
                "POST", "v1/runs/\(r.run)/rounds/1/checkin", body: Data("{\"device\":".utf8),
                credential: r.credential(ofDevice: 1))
        },
        Refusal("JSON of the wrong shape", 400, .badRequest) { r in
            try await r.raw(
                "POST", "v1/runs/\(r.run)/rounds/1/checkin", body: Data("{\"device\":\"one\"}".utf8),
                credential: r.credential(ofDevice: 1))
        },
        Refusal("an upload without its extras header", 400, .badRequest) { r in
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/1/updates/1", body: Data(try r.update(device: 1)),
                credential: r.credential(ofDevice: 1))
        },
        Refusal("an extras header that is not UploadExtras JSON", 400, .badRequest) { r in
            try await r.raw(
                "PUT", "v1/runs/\(r.run)/rounds/1/updates/1", body: Data(try r.update(device: 1)),
                credential: r.credential(ofDevice: 1),
                headers: [HTTPTransport.extrasHeader: "{\"virtualTime\":\"noon\"}"])
        },
        Refusal("a path parameter that is not an integer", 400, .badRequest) { r in
            try await r.raw("GET", "v1/runs/first/rounds/1/model", credential: r.runCredential)
        },
        Refusal("a path the server has no route for", 404, .badRequest) { r in
            try await r.raw("GET", "v1/runs/\(r.run)/rounds", credential: r.runCredential)
        },
        Refusal("a close whose body names another round than its path", 400, .badRequest) { r in
            let closing = RoundClosing(
                round: 2, virtualStart: r.virtualStart, virtualEnd: r.virtualStart + 60, selected: 8, dropped: 0,
                stragglers: 0,
                surplus: 0, bytesDown: 0, wallSeconds: 0, trainSeconds: 0)
            try await r.raw(
                "POST", "v1/runs/\(r.run)/rounds/1/close", body: try JSONEncoder().encode(closing),
                credential: r.runCredential)
        },
        Refusal("a configuration that fails validation", 400, .badRequest) { r in
            var configuration = tinyRunConfiguration()
            configuration.cohort = 0
            _ = try await r.transport.createRun(configuration)
        },
        // A typed configuration cannot hold these: a hostile or older client sends the JSON.
        Refusal("a codec scheme the devices cannot encode with", 400, .badRequest) { r in
            let json = tinyRunConfiguration().encodedJSON().replacingOccurrences(
                of: "\"codec\" : \"rot,q8s,z1\"", with: "\"codec\" : \"q99\"")
            #expect(json.contains("q99"))
            _ = try await r.raw("POST", "v1/runs", body: Data(json.utf8), credential: testOperatorToken)
        },
        Refusal("a server optimizer the server does not know", 400, .badRequest) { r in
            let json = tinyRunConfiguration().encodedJSON().replacingOccurrences(
                of: "\"serverOptimizer\" : \"", with: "\"serverOptimizer\" : \"fedmagic")
            #expect(json.contains("fedmagic"))
            _ = try await r.raw("POST", "v1/runs", body: Data(json.utf8), credential: testOperatorToken)
        },
        Refusal("a corpus the server cannot load", 400, .badRequest) { r in
            var configuration = tinyRunConfiguration()
            configuration.corpus = "synthetic:/nonexistent/spec.json"
            _ = try await r.transport.createRun(configuration)
        },
    ]

    @Test("A refused request changes nothing: the round still takes valid updates and closes", arguments: refusals)
    func refusalLeavesTheRoundGoing(_ refusal: Refusal) async throws {
        let aggregation = AggregationServer(store: try RunStore.inMemory())
        try await withLiveServer(aggregation, maximumUpdateBytes: testUpdateLimit) { base in
            let round = try await ManualRound.open(at: base)
            #expect(try await round.upload(device: 0).accepted)

            let rejection = await #expect(throws: HTTPRejection.self) { try await refusal.send(round) }
            #expect(rejection?.status == refusal.status, "\(rejection?.description ?? "no rejection")")
            #expect(rejection?.reason == refusal.reason, "\(rejection?.description ?? "no rejection")")
            #expect(rejection?.message.isEmpty == false)

            let summary = try await round.complete()
            #expect(summary.reported == 5)
            #expect(!summary.abandoned)
        }
    }

    @Test("Re-uploading the same bytes is a 200 that is acknowledged once, not counted twice")
    func identicalReplayIsAcknowledged() async throws {
        let aggregation = AggregationServer(store: try RunStore.inMemory())
        try await withLiveServer(aggregation) { base in
            let round = try await ManualRound.open(at: base)
            let update = try round.update(device: 0)
            let first = try await round.upload(device: 0, bytes: update)
            #expect(first.accepted && first.reportsSoFar == 1)

            let extras = String(decoding: try JSONEncoder().encode(round.extras()), as: UTF8.self)
            let replay = try await round.raw(
                "PUT", "v1/runs/\(round.run)/rounds/1/updates/0", body: Data(update),
                credential: round.credential(ofDevice: 0), headers: [HTTPTransport.extrasHeader: extras])
            #expect(replay.status == 200)
            let receipt = try JSONDecoder().decode(UploadReceipt.self, from: replay.body)
            #expect(!receipt.accepted && receipt.reportsSoFar == 1)

            let summary = try await round.complete()
            #expect(summary.reported == 5)
            #expect(summary.tokens == 50, "five devices of 10 examples each: the replay is not aggregated")
        }
    }

    @Test("GET /metrics counts refused uploads by reason, and GET /v1/status shows the open round")
    func metricsAndStatus() async throws {
        let aggregation = AggregationServer(store: try RunStore.inMemory())
        try await withLiveServer(aggregation) { base in
            let round = try await ManualRound.open(at: base)
            try await round.upload(device: 0)
            _ = try? await round.upload(device: 1, bytes: [1, 2, 3])
            _ = try? await round.upload(device: 1, virtualTime: round.deadline + 1)
            _ = try? await round.raw(
                "PUT", "v1/runs/\(round.run)/rounds/1/updates/1", body: Data(try round.update(device: 1)),
                credential: round.credential(ofDevice: 1))

            let metrics = try await RawExchange.send("GET", "metrics", to: base, credential: testOperatorToken)
            #expect(metrics.status == 200)
            #expect(metrics.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains("# TYPE kbdsim_uploads_rejected_total counter"))
            #expect(text.contains("kbdsim_uploads_rejected_total{reason=\"malformed-update\"} 1"))
            #expect(text.contains("kbdsim_uploads_rejected_total{reason=\"after-deadline\"} 1"))
            #expect(text.contains("kbdsim_uploads_rejected_total{reason=\"bad-request\"} 1"))
            #expect(text.contains("kbdsim_uploads_accepted_total 1"))

            let status = try await round.transport.status()
            #expect(status.uploadsAccepted == 1)
            let run = try #require(status.runs.first)
            #expect(
                run.runID == round.run && run.openRound == 1 && run.reportsInOpenRound == 1 && run.committedRounds == 0)
        }
    }

    @Test("An unexpected failure is a 500 internal-error with a JSON body, and the server stays up")
    func internalErrorKeepsServing() async throws {
        struct DiskOnFire: Error {}
        let aggregation = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in throw DiskOnFire() })
        try await withLiveServer(aggregation) { base in
            let transport = try HTTPTransport(baseURL: base.absoluteString, token: testOperatorToken)
            let rejection = await #expect(throws: HTTPRejection.self) {
                try await transport.createRun(tinyRunConfiguration())
            }
            #expect(rejection?.status == 500)
            #expect(rejection?.reason == .internalError)
            #expect(try await transport.status().runs.isEmpty)
        }
    }
}
