import FederatedCore
import FederationProtocol
import FederationTestSupport
import Foundation
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

@Suite("Secure aggregation in a run, in process")
struct SecureAggregationRunTests {
    /// The tiny neural run with secure aggregation: 8-bit stochastic codes on [-0.5, 0.5].
    static func configuration(
        summation: SecureAggregationSettings.Summation = .masked, dropout: Double = 0, rounds: Int = 3
    ) -> RunConfiguration {
        var c = Fixtures.neuralConfiguration(rounds: rounds, codec: "clip=0.5,q8s")
        c.cohort = 8
        c.minimumReportFraction = 0.25
        c.secureAggregation = SecureAggregationSettings(summation: summation, stageDropout: dropout)
        return c
    }

    private func run(_ c: RunConfiguration, server: AggregationServer) async throws -> FederatedRunner.Outcome {
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c), workers: 2)
        return try await runner.run(configuration: c)
    }

    private func initialHash(_ c: RunConfiguration) throws -> String {
        let dataset = try FederatedDataset(configuration: c)
        return try c.makeGlobalModel(vocabulary: dataset.vocabulary).sha256()
    }

    @Test(
        "A masked run ends at the bit-identical model of the plain sum of the same codes on the same grid",
        arguments: [0.0, 0.1])
    func maskedEqualsPlain(dropout: Double) async throws {
        let masked = try await run(Self.configuration(dropout: dropout), server: try Fixtures.server())
        let plain = try await run(
            Self.configuration(summation: .plain, dropout: dropout), server: try Fixtures.server())
        #expect(masked.finished && plain.finished)
        #expect(masked.rounds.map(\.summary.modelSHA256) == plain.rounds.map(\.summary.modelSHA256))
        #expect(masked.rounds.map(\.summary.abandoned) == plain.rounds.map(\.summary.abandoned))
        #expect(masked.rounds.map(\.summary.reported) == plain.rounds.map(\.summary.reported))
        // The comparison is not vacuous: rounds were summed and moved the model.
        #expect(masked.rounds.contains { !$0.summary.abandoned })
        #expect(masked.rounds.last!.summary.modelSHA256 != (try initialHash(Self.configuration())))
        let reports = masked.rounds.compactMap(\.summary.secureAggregation)
        #expect(reports.count == masked.rounds.count)
        #expect(reports.allSatisfy { $0.summation == "masked" })
        let summed = reports.filter { $0.abandoned == nil }
        #expect(
            summed.allSatisfy { $0.stages.map(\.stage) == ["advertise-keys", "share-keys", "masked-input", "unmask"] })
        // A masked coordinate takes m = b + ⌈log2 K⌉ bits on the wire.
        #expect(summed.allSatisfy { $0.ringBits == 8 + MaskRingBits.ceilLog2($0.cohort) })
        #expect(plain.rounds.compactMap(\.summary.secureAggregation).allSatisfy { $0.summation == "plain" })
    }

    @Test("With dropouts between stages rounds still commit, through the recovery path")
    func dropoutsRecover() async throws {
        var c = Self.configuration(dropout: 0.15, rounds: 4)
        c.cohort = 10
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        #expect(outcome.finished)
        let reports = outcome.rounds.compactMap(\.summary.secureAggregation)
        #expect(reports.reduce(0) { $0 + $1.droppedBetweenStages } > 0)
        #expect(reports.reduce(0) { $0 + $1.recovered } > 0)
        #expect(outcome.rounds.contains { !$0.summary.abandoned })
        // The costs are stored with each round as the stage report `secure-aggregation`.
        let stored = try server.store.stageReports(ofRun: outcome.attachment.runID).filter {
            $0.stage == "secure-aggregation"
        }
        #expect(stored.map(\.round) == Array(1...4))
        #expect(try JSONDecoder().decode(SecureAggregationReport.self, from: Data(stored[0].json.utf8)) == reports[0])
        #expect(reports.allSatisfy { $0.bytesUpPerPhone > 0 })
        // The same seed draws the same dropouts: a second run is the same run.
        let again = try await run(c, server: try Fixtures.server())
        #expect(again.rounds.map(\.summary.modelSHA256) == outcome.rounds.map(\.summary.modelSHA256))
        #expect(again.rounds.compactMap(\.summary.secureAggregation?.recovered) == reports.map(\.recovered))
    }

    @Test("Without random failures, phones that stop being eligible between stages drop out, as the fleet says")
    func eligibilityDropsPhones() async throws {
        var c = Self.configuration(dropout: 0, rounds: 5)
        c.cohort = 16
        c.secureAggregation?.stageSeconds = 900
        let outcome = try await run(c, server: try Fixtures.server())
        #expect(outcome.finished)
        let reports = outcome.rounds.compactMap(\.summary.secureAggregation)
        #expect(reports.count == 5)
        // Every departure is the fleet's: a phone not eligible at some minute of a gap.
        #expect(reports.allSatisfy { $0.unplugged == $0.droppedBetweenStages })
        #expect(reports.reduce(0) { $0 + ($1.unplugged ?? 0) } > 0, "15-minute gaps lose some phones")
        #expect(reports.reduce(0) { $0 + $1.recovered } > 0, "and the recovery path runs")
        // The plain comparison loses the same phones before their input: the same contributors.
        var plain = c
        plain.secureAggregation?.summation = .plain
        let compared = try await run(plain, server: try Fixtures.server()).rounds.compactMap(
            \.summary.secureAggregation)
        #expect(compared.count == reports.count)
        for (m, p) in zip(reports, compared) where m.abandoned == nil {
            #expect(p.contributors == m.contributors)
            #expect((p.unplugged ?? 0) <= (m.unplugged ?? 0), "plain does not count the gap after the input")
        }
        // A stage gap out of range is refused with the flag's name.
        var bad = c
        bad.secureAggregation?.stageSeconds = 0
        let refusal = #expect(throws: FederationError.self) { try bad.validate() }
        #expect(refusal?.message.contains("--secagg-stage-seconds") == true)
    }

    @Test("A round that loses too many phones is abandoned: nothing is stepped, and the run goes on")
    func tooManyDropoutsAbandon() async throws {
        let c = Self.configuration(dropout: 0.9, rounds: 3)
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        #expect(outcome.finished)
        #expect(outcome.rounds.map(\.round) == [1, 2, 3])
        #expect(outcome.rounds.allSatisfy { $0.summary.abandoned })
        let start = try initialHash(c)
        #expect(outcome.rounds.allSatisfy { $0.summary.modelSHA256 == start })
        let reasons = outcome.rounds.compactMap(\.summary.secureAggregation?.abandoned)
        #expect(reasons.count == 3)
        #expect(reasons.allSatisfy { $0.contains("t =") || $0.contains("phone") })
        let rounds = try server.store.rounds(ofRun: outcome.attachment.runID)
        #expect(rounds.allSatisfy { $0.abandoned && $0.modelSHA256 == start })
        #expect(try server.store.participation(ofRun: outcome.attachment.runID).isEmpty)
    }

    @Test("The configuration refuses what secure aggregation cannot do, naming the flag")
    func validation() throws {
        func message(_ change: (inout RunConfiguration) -> Void) -> String? {
            Self.configuration().validationMessage(after: change)
        }
        #expect(message { _ in } == nil)
        #expect(message { $0.codec = "f32" }?.contains("sends floats") == true)
        #expect(message { $0.codec = "clip=0.5,f16" }?.contains("--codec") == true)
        #expect(message { $0.codec = "q8s" }?.contains("has no clip") == true)
        #expect(message { $0.codec = "clip=0.5,rot,q8s" }?.contains("rotates") == true)
        #expect(message { $0.codec = "clip=0.5,q8s,z1" }?.contains("deflates") == true)
        #expect(
            message {
                $0.modelName = "kn3"
                $0.model = .ngram(order: 3)
            }?.contains("n-gram") == true)
        for chain in [
            "decode,weight:uniform,median,server-optimizer", "decode,weight:uniform,norm-bound:1,sum,server-optimizer",
            "decode,weight:uniform,trimmed-mean:0.1,server-optimizer",
            "decode,weight:uniform,krum:f=1,server-optimizer",
            "decode,weight:uniform,norm-histogram,sum,server-optimizer",
        ] {
            let m = message { $0.aggregationStages = chain.split(separator: ",").map(String.init) }
            #expect(m?.contains("looks at single updates") == true, "\(chain): \(m ?? "accepted")")
        }
        #expect(
            message { $0.aggregationStages = ["decode", "weight", "sum", "server-optimizer"] }?.contains(
                "weight:uniform") == true)
        #expect(message { $0.federatedEval = true }?.contains("--federated-eval") == true)
        #expect(message { $0.secureAggregation?.stageDropout = 1 }?.contains("--secagg-dropout") == true)
        // Stored with the run: it round-trips, and a configuration without it still decodes.
        let c = Self.configuration(dropout: 0.1)
        #expect(try RunConfiguration.decode(json: c.encodedJSON()) == c)
        #expect(
            try RunConfiguration.decode(json: Fixtures.neuralConfiguration().encodedJSON()).secureAggregation == nil)
        #expect(c.effectiveAggregationStages == RunConfiguration.secureAggregationStages)
    }

    @Test("A transport without the secure-aggregation stages refuses them with the reason")
    func otherTransportsRefuse() async throws {
        struct Bare: ServerTransport {
            let inner: InProcessTransport
            var name: String { "bare" }
            func createRun(_ c: RunConfiguration) async throws -> RunAttachment { try await inner.createRun(c) }
            func resumeRun(id: Int64) async throws -> RunAttachment { try await inner.resumeRun(id: id) }
            func openRound(run: Int64, _ o: RoundOpening) async throws { try await inner.openRound(run: run, o) }
            func checkIn(run: Int64, round: Int, device: Int) async throws -> TrainingPlan {
                try await inner.checkIn(run: run, round: round, device: device)
            }
            func model(run: Int64, round: Int) async throws -> [UInt8] { try await inner.model(run: run, round: round) }
            func upload(run: Int64, round: Int, device: Int, bytes: [UInt8], extras: UploadExtras) async throws
                -> UploadReceipt
            { try await inner.upload(run: run, round: round, device: device, bytes: bytes, extras: extras) }
            func closeRound(run: Int64, _ c: RoundClosing) async throws -> RoundSummary {
                try await inner.closeRound(run: run, c)
            }
            func finishRun(_ run: Int64, finished: Bool) async throws {
                try await inner.finishRun(run, finished: finished)
            }
        }
        let c = Self.configuration(rounds: 1)
        let runner = FederatedRunner(
            transport: Bare(inner: InProcessTransport(server: try Fixtures.server())),
            dataset: try FederatedDataset(configuration: c))
        await #expect(throws: FederationError.secureAggregationInProcessOnly(transport: "bare")) {
            _ = try await runner.run(configuration: c)
        }
    }
}

/// m's ⌈log2 K⌉ term, as the ring computes it.
enum MaskRingBits {
    static func ceilLog2(_ n: Int) -> Int { n <= 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount }
}
