import FederationHTTP
import FederationProtocol
import FederationTestSupport
import Fleet
import Foundation
import KeyboardCorpus
import RunStore
import Testing
import UpdateCodec

@testable import Federation
@testable import FederationServer
@testable import LanguageModels

/// Drives the round protocol by hand, as a misbehaving or unlucky device would.
@Suite("Aggregation server refusals")
struct ServerRejectionTests {
    /// A server with run 1 open at round 1 for devices 10, 11, 12 (deadline 1,000 s after start).
    private func openRound() throws -> (AggregationServer, RunAttachment, LSTMLanguageModel) {
        let server = try Fixtures.server()
        var c = Fixtures.neuralConfiguration(rounds: 2)
        c.cohort = 2
        c.minimumReportFraction = 0.5
        let run = try server.createRun(c)
        try server.openRound(
            run: run.runID,
            RoundOpening(
                round: 1, selected: [10, 11, 12], virtualStart: run.virtualTime, deadline: run.virtualTime + 1000))
        _ = try server.checkIn(run: run.runID, round: 1, device: 10)
        var model = try LSTMLanguageModel(config: Fixtures.tinyModel(vocab: 12))
        model.parameters = try ModelDownload.decodeWeights(
            try server.model(run: run.runID, round: 1), layoutHash: model.layoutHash,
            parameterCount: model.parameters.count
        ).weights
        return (server, run, model)
    }

    private func update(
        _ model: LSTMLanguageModel, run: Int64, round: Int = 1, device: Int, scale: Float = 0.01, examples: UInt32 = 40
    ) throws -> [UInt8] {
        let delta = (0..<model.parameters.count).map { Float(($0 * 7919 + device) % 101 - 50) * scale / 50 }
        let metadata = UpdateMetadata(
            runID: UInt64(run), round: UInt32(round), layoutHash: model.layoutHash, exampleCount: examples,
            deviceID: UInt64(device))
        return try UpdateEncoder(scheme: try CodecScheme(parsing: "q8s,z1")).encode(delta, metadata: metadata, seed: 1)
    }

    private func expectRejection(_ status: Int, _ reason: ServerRejection.Reason, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(status) \(reason.rawValue), but the request was accepted")
        } catch let rejection as ServerRejection {
            // The core's refusal carries no status; the HTTP edge's mapping gives the one
            // it is answered with.
            let r = HTTPRejection(rejection)
            #expect(r.status == status)
            #expect(r.reason == reason)
            #expect(!r.message.isEmpty)
        } catch {
            Issue.record("expected a ServerRejection, got \(error)")
        }
    }

    @Test("Bad uploads are refused with a status and a reason, and the round still closes with the good ones")
    func badUploads() throws {
        let (server, run, model) = try openRound()
        let id = run.runID
        let t = run.virtualTime + 10
        let good = try update(model, run: id, device: 10)
        // Malformed, truncated, corrupted.
        expectRejection(400, .malformedUpdate) {
            _ = try server.upload(run: id, round: 1, device: 10, bytes: [1, 2, 3, 4], extras: .init(virtualTime: t))
        }
        expectRejection(400, .malformedUpdate) {
            _ = try server.upload(
                run: id, round: 1, device: 10, bytes: Array(good.dropLast(9)), extras: .init(virtualTime: t))
        }
        var flipped = good
        flipped[good.count / 2] ^= 0x40
        expectRejection(400, .malformedUpdate) {
            _ = try server.upload(run: id, round: 1, device: 10, bytes: flipped, extras: .init(virtualTime: t))
        }
        // Oversized: more than float32 of every parameter could ever need.
        let huge = [UInt8](repeating: 0, count: 5 * model.parameters.count + (1 << 20) + 1)
        expectRejection(413, .oversizedUpdate) {
            _ = try server.upload(run: id, round: 1, device: 10, bytes: huge, extras: .init(virtualTime: t))
        }
        // Trained for another round (a replay from an earlier round).
        let stale = try update(model, run: id, round: 7, device: 10)
        expectRejection(409, .wrongRound) {
            _ = try server.upload(run: id, round: 1, device: 10, bytes: stale, extras: .init(virtualTime: t))
        }
        // Sent to a round that is not open.
        expectRejection(409, .wrongRound) {
            _ = try server.upload(run: id, round: 2, device: 10, bytes: good, extras: .init(virtualTime: t))
        }
        // A device that was not selected, and one that claims to be another.
        expectRejection(403, .unknownDevice) { _ = try server.checkIn(run: id, round: 1, device: 99) }
        expectRejection(403, .unknownDevice) {
            _ = try server.upload(
                run: id, round: 1, device: 99, bytes: try update(model, run: id, device: 99),
                extras: .init(virtualTime: t))
        }
        expectRejection(403, .unknownDevice) {
            _ = try server.upload(run: id, round: 1, device: 11, bytes: good, extras: .init(virtualTime: t))
        }
        // After the deadline.
        expectRejection(410, .afterDeadline) {
            _ = try server.upload(
                run: id, round: 1, device: 10, bytes: good, extras: .init(virtualTime: run.virtualTime + 1001))
        }
        // An unknown run.
        expectRejection(404, .unknownRun) {
            _ = try server.upload(run: 42, round: 1, device: 10, bytes: good, extras: .init(virtualTime: t))
        }

        // None of that changed anything: the good update is the first one accepted.
        let receipt = try server.upload(run: id, round: 1, device: 10, bytes: good, extras: .init(virtualTime: t))
        #expect(receipt == UploadReceipt(accepted: true, reportsSoFar: 1))
        // An identical retry is acknowledged once; a different update from the same device is a conflict.
        #expect(
            try server.upload(run: id, round: 1, device: 10, bytes: good, extras: .init(virtualTime: t))
                == UploadReceipt(accepted: false, reportsSoFar: 1))
        expectRejection(409, .conflictingReplay) {
            _ = try server.upload(
                run: id, round: 1, device: 10, bytes: try update(model, run: id, device: 10, examples: 41),
                extras: .init(virtualTime: t))
        }
        let second = try update(model, run: id, device: 11)
        #expect(try server.upload(run: id, round: 1, device: 11, bytes: second, extras: .init(virtualTime: t)).accepted)
        // The cohort (2) is complete: a third report is surplus.
        expectRejection(409, .cohortComplete) {
            _ = try server.upload(
                run: id, round: 1, device: 12, bytes: try update(model, run: id, device: 12),
                extras: .init(virtualTime: t))
        }
        let summary = try server.closeRound(
            run: id,
            RoundClosing(
                round: 1, virtualStart: run.virtualTime, virtualEnd: t, selected: 3, dropped: 0, stragglers: 0,
                surplus: 1,
                bytesDown: 0, wallSeconds: 0, trainSeconds: 0))
        #expect(summary.reported == 2 && !summary.abandoned)
        #expect(summary.tokens == 80)
        let rounds = try server.store.rounds(ofRun: id)
        #expect(rounds.count == 1 && rounds[0].reported == 2)
        #expect(rounds[0].bytesUp == Int64(good.count + second.count))
        // Prometheus counters saw the refusals by reason.
        let metrics = server.prometheusMetrics()
        #expect(metrics.contains("kbdsim_uploads_rejected_total{reason=\"malformed-update\"} 3"))
        #expect(metrics.contains("kbdsim_uploads_accepted_total 2"))
        #expect(metrics.contains("kbdsim_uploads_duplicate_total 1"))
    }

    @Test("Round bookkeeping: rounds open in order, only one at a time, and a closed round takes no uploads")
    func roundOrder() throws {
        let (server, run, model) = try openRound()
        let id = run.runID
        expectRejection(409, .roundAlreadyOpen) {
            try server.openRound(
                run: id,
                RoundOpening(round: 2, selected: [1], virtualStart: run.virtualTime, deadline: run.virtualTime + 5))
        }
        let closing = RoundClosing(
            round: 1, virtualStart: run.virtualTime, virtualEnd: run.virtualTime + 60, selected: 3, dropped: 3,
            stragglers: 0, surplus: 0, bytesDown: 0, wallSeconds: 0, trainSeconds: 0)
        let summary = try server.closeRound(run: id, closing)
        #expect(summary.abandoned)  // no report arrived
        expectRejection(409, .noOpenRound) {
            _ = try server.upload(
                run: id, round: 1, device: 10, bytes: try update(model, run: id, device: 10),
                extras: .init(virtualTime: run.virtualTime))
        }
        expectRejection(409, .wrongRound) {
            try server.openRound(
                run: id,
                RoundOpening(round: 5, selected: [1], virtualStart: run.virtualTime, deadline: run.virtualTime + 5))
        }
        expectRejection(400, .badRequest) {
            try server.openRound(
                run: id,
                RoundOpening(
                    round: 2, selected: [9_999_999], virtualStart: run.virtualTime, deadline: run.virtualTime + 5))
        }
        // An abandoned round is still committed: nothing is lost, the model did not move.
        #expect(try server.store.rounds(ofRun: id).map(\.abandoned) == [true])
    }

    @Test("Local-hour counts travel with the closing: optional for older fleets, else 24 counts summing to the reports")
    func localHourCounts() throws {
        // An older fleet's closing (no local hours) still decodes, and a new one round-trips.
        let old =
            #"{"round":1,"virtualStart":0,"virtualEnd":60,"nextRoundStart":60,"selected":3,"dropped":0,"stragglers":0,"surplus":0,"bytesDown":0,"wallSeconds":0,"trainSeconds":0}"#
        #expect(try JSONDecoder().decode(RoundClosing.self, from: Data(old.utf8)).reportingLocalHours == nil)
        let hours = [Int](repeating: 0, count: 23) + [1]
        let closing = RoundClosing(
            round: 1, virtualStart: 0, virtualEnd: 60, selected: 3, dropped: 0, stragglers: 0, surplus: 0, bytesDown: 0,
            wallSeconds: 0, trainSeconds: 0, reportingLocalHours: hours)
        #expect(try JSONDecoder().decode(RoundClosing.self, from: JSONEncoder().encode(closing)) == closing)

        let (server, run, model) = try openRound()
        let id = run.runID
        _ = try server.upload(
            run: id, round: 1, device: 10, bytes: try update(model, run: id, device: 10),
            extras: .init(virtualTime: run.virtualTime + 10))
        var bad = closing
        bad.virtualStart = run.virtualTime
        bad.virtualEnd = run.virtualTime + 60
        bad.nextRoundStart = bad.virtualEnd
        for wrong in [[1, 1] + [Int](repeating: 0, count: 22), [1], [-1, 2] + [Int](repeating: 0, count: 22)] {
            bad.reportingLocalHours = wrong
            expectRejection(400, .badRequest) { _ = try server.closeRound(run: id, bad) }
        }
        #expect(try server.store.rounds(ofRun: id).isEmpty)  // refused closings commit nothing
        var good = bad
        good.reportingLocalHours = hours
        #expect(try server.closeRound(run: id, good).reported == 1)
        #expect(try server.store.rounds(ofRun: id).map(\.reportingLocalHours) == [hours])
    }
}

@Suite("n-gram update wire format")
struct NGramWireTests {
    private func sample() -> NGramCounts {
        NGramCounts(order: 3, messages: [[4, 5, 6], [4, 5], [7], [1, 4, 5, 6, 8]])
    }

    @Test("Round trip keeps every count")
    func roundTrip() throws {
        let counts = sample()
        let bytes = NGramUpdateWire.encode(
            counts, vocabularyCount: 12, envelope: .init(runID: 3, round: 2, device: 9, exampleCount: counts.tokenCount)
        )
        let (envelope, decoded) = try NGramUpdateWire.decode(bytes, expectedOrder: 3, vocabularyCount: 12)
        #expect(decoded == counts)
        #expect(envelope == .init(runID: 3, round: 2, device: 9, exampleCount: counts.tokenCount))
        let empty = NGramUpdateWire.encode(
            NGramCounts(order: 3), vocabularyCount: 12, envelope: .init(runID: 3, round: 2, device: 9, exampleCount: 0))
        #expect(try NGramUpdateWire.decode(empty, expectedOrder: 3, vocabularyCount: 12).1.isEmpty)
    }

    @Test("Truncations, bit flips, wrong order or vocabulary, and forged tables are refused")
    func rejects() throws {
        let counts = sample()
        let bytes = NGramUpdateWire.encode(
            counts, vocabularyCount: 12, envelope: .init(runID: 3, round: 2, device: 9, exampleCount: counts.tokenCount)
        )
        for cut in [0, 10, 59, bytes.count - 1] {
            #expect(throws: FederationError.self) {
                try NGramUpdateWire.decode(Array(bytes.prefix(cut)), expectedOrder: 3, vocabularyCount: 12)
            }
        }
        for i in stride(from: 0, to: bytes.count, by: 7) {
            var b = bytes
            b[i] ^= 0x10
            #expect(throws: FederationError.self) {
                try NGramUpdateWire.decode(b, expectedOrder: 3, vocabularyCount: 12)
            }
        }
        #expect(throws: FederationError.self) {
            try NGramUpdateWire.decode(bytes, expectedOrder: 2, vocabularyCount: 12)
        }
        #expect(throws: FederationError.self) {
            try NGramUpdateWire.decode(bytes, expectedOrder: 3, vocabularyCount: 13)
        }
        // Well-framed but impossible tables (valid CRC): ids beyond the vocabulary, unsorted keys, orphan n-grams.
        var forged = counts
        forged.keys[0].swapAt(0, 1)
        let unsorted = NGramUpdateWire.encode(
            forged, vocabularyCount: 12, envelope: .init(runID: 3, round: 2, device: 9, exampleCount: counts.tokenCount)
        )
        #expect(throws: FederationError.self) {
            try NGramUpdateWire.decode(unsorted, expectedOrder: 3, vocabularyCount: 12)
        }
        let big = NGramCounts(order: 3, messages: [[40, 41]])
        let outside = NGramUpdateWire.encode(
            big, vocabularyCount: 12, envelope: .init(runID: 3, round: 2, device: 9, exampleCount: big.tokenCount))
        #expect(throws: FederationError.self) {
            try NGramUpdateWire.decode(outside, expectedOrder: 3, vocabularyCount: 12)
        }
        var orphan = counts
        orphan.keys[0].removeLast()
        orphan.counts[0].removeLast()
        let missing = NGramUpdateWire.encode(
            orphan, vocabularyCount: 12, envelope: .init(runID: 3, round: 2, device: 9, exampleCount: orphan.tokenCount)
        )
        #expect(throws: FederationError.self) {
            try NGramUpdateWire.decode(missing, expectedOrder: 3, vocabularyCount: 12)
        }
        // An example count that is not the tokens counted.
        let lying = NGramUpdateWire.encode(
            counts, vocabularyCount: 12, envelope: .init(runID: 3, round: 2, device: 9, exampleCount: 1000))
        #expect(throws: FederationError.self) {
            try NGramUpdateWire.decode(lying, expectedOrder: 3, vocabularyCount: 12)
        }
    }

    @Test("A server checkpoint survives a round trip and refuses damage")
    func checkpointRoundTrip() throws {
        let c = Fixtures.neuralConfiguration()
        let dataset = try FederatedDataset(configuration: c)
        let model = try c.makeGlobalModel(vocabulary: dataset.vocabulary)
        let bytes = ServerCheckpoint.encode(model, round: 3, virtualTime: 12345)
        let restored = try ServerCheckpoint.decode(bytes, into: model)
        #expect(restored.round == 3 && restored.virtualTime == 12345)
        #expect(
            restored.model.sha256() == model.sha256())
        var damaged = bytes
        damaged[bytes.count / 2] ^= 1
        #expect(throws: FederationError.self) {
            try ServerCheckpoint.decode(damaged, into: model)
        }
        #expect(throws: FederationError.self) {
            try ServerCheckpoint.decode(Array(bytes.prefix(20)), into: model)
        }
    }
}
