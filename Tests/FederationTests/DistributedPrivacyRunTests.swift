import Aggregation
import FederatedCore
import FederationProtocol
import FederationTestSupport
import Foundation
import Privacy
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

/// Distributed DP under secure aggregation (the Skellam mechanism), end to end in process:
/// the phones' noise travels in the masked sum, the run reports the accountant's ε, and the
/// configurations it cannot honour are refused naming the flag.
@Suite("Distributed DP under secure aggregation, in process")
struct DistributedPrivacyRunTests {
    /// The tiny neural run with secure aggregation and distributed DP: clip 0.5, z = 1.
    static func configuration(
        summation: SecureAggregationSettings.Summation = .masked, dropout: Double = 0, rounds: Int = 3
    ) -> RunConfiguration {
        var c = Fixtures.neuralConfiguration(rounds: rounds, codec: "clip=0.5,q8s")
        c.cohort = 8
        c.minimumReportFraction = 0.25
        c.secureAggregation = SecureAggregationSettings(summation: summation, stageDropout: dropout)
        c.privacy = PrivacyConfiguration(noiseMultiplier: 1, clipNorm: 0.5)
        c.privacy?.mechanism = .skellam
        return c
    }

    private func run(_ c: RunConfiguration, server: AggregationServer) async throws -> FederatedRunner.Outcome {
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c), workers: 2)
        return try await runner.run(configuration: c)
    }

    @Test(
        "A masked run with distributed noise ends at the bit-identical model of the plain sum of the same noisy integers",
        arguments: [0.0, 0.1])
    func maskedEqualsPlain(dropout: Double) async throws {
        try Self.configuration().validate()
        let masked = try await run(Self.configuration(dropout: dropout), server: try Fixtures.server())
        let plain = try await run(
            Self.configuration(summation: .plain, dropout: dropout), server: try Fixtures.server())
        #expect(masked.finished && plain.finished)
        #expect(masked.rounds.contains { !$0.summary.abandoned })
        #expect(masked.rounds.map(\.summary.modelSHA256) == plain.rounds.map(\.summary.modelSHA256))
        #expect(masked.rounds.map(\.summary.abandoned) == plain.rounds.map(\.summary.abandoned))
        let reports = masked.rounds.compactMap(\.summary.secureAggregation).filter { $0.abandoned == nil }
        #expect(!reports.isEmpty)
        // The ring is fitted per round, at most the design's 32 bits.
        #expect(reports.allSatisfy { $0.ringBits <= 32 && $0.ringBits == $0.inputBits })
    }

    @Test("The noise is in the sum: the model differs from the same run without DP, and a rerun is the same")
    func noiseMovesTheModel() async throws {
        let c = Self.configuration()
        let noisy = try await run(c, server: try Fixtures.server())
        var quiet = c
        quiet.privacy = nil
        let plainSecAgg = try await run(quiet, server: try Fixtures.server())
        #expect(noisy.rounds.last?.summary.modelSHA256 != plainSecAgg.rounds.last?.summary.modelSHA256)
        let again = try await run(c, server: try Fixtures.server())
        #expect(again.rounds.map(\.summary.modelSHA256) == noisy.rounds.map(\.summary.modelSHA256))
    }

    @Test("Every committed round reports the Skellam accountant's ε, and the server adds no noise stage")
    func epsilonIsTheAccountants() async throws {
        var c = Self.configuration(rounds: 3)
        c.participation = ParticipationLimits(maximumParticipations: 2)
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        #expect(outcome.finished)
        let encoding = try #require(c.skellamEncoding)
        #expect(encoding.dimension > 0 && encoding.scale > 0)
        let delta = PrivacyConfiguration.defaultDelta(devices: c.devices)
        let expected = try SkellamAccountant.epsilon(
            noiseMultiplier: 1, clip: 0.5, scale: encoding.scale, dimension: encoding.dimension, participations: 2,
            delta: delta)
        #expect(expected.epsilon.isFinite && expected.epsilon > 0)
        let committed = outcome.rounds.filter { !$0.summary.abandoned }
        #expect(!committed.isEmpty)
        for p in committed {
            let privacy = try #require(p.summary.privacy)
            #expect(privacy.method == "skellam-rdp" && privacy.accounting == "participation")
            #expect(privacy.epsilon == expected.epsilon)
            #expect(privacy.maximumParticipations == 2)
            #expect(privacy.skellamScale == encoding.scale && privacy.skellamVariance == expected.variance)
            #expect(privacy.l2Sensitivity == expected.l2Sensitivity && privacy.order == expected.order)
            #expect(privacy.assumption.contains("no sampling assumption"))
        }
        let stages = Set(try server.store.stageReports(ofRun: outcome.attachment.runID).map(\.stage))
        #expect(stages.contains("privacy") && stages.contains("secure-aggregation"))
        #expect(!stages.contains("gaussian-noise") && !stages.contains("clip"))
        // Without --max-participations a phone may take part in every round.
        var everyRound = Self.configuration(rounds: 3)
        everyRound.participation = nil
        let status = try #require(
            try RunPrivacyAccounting.status(everyRound, round: 1, ledger: ParticipationLedger()))
        #expect(status.maximumParticipations == 3)
    }

    @Test("The configuration refuses what distributed DP cannot do, naming the flag")
    func validation() throws {
        func message(_ change: (inout RunConfiguration) -> Void) -> String? {
            Self.configuration().validationMessage(after: change)
        }
        #expect(message { _ in } == nil)
        // The codec is not used: the phones send ring elements.
        #expect(message { $0.codec = "f32" } == nil)
        #expect(message { $0.privacy?.mechanism = .gaussian }?.contains("--dp-mechanism") == true)
        #expect(
            message {
                $0.privacy?.mechanism = .tree
                $0.privacy?.accounting = .tree
            }?.contains("--dp-") == true)
        #expect(message { $0.secureAggregation = nil }?.contains("--dp-mechanism skellam") == true)
        #expect(message { $0.privacy?.clipNorm = 0 }?.contains("--dp-clip") == true)
        #expect(message { $0.privacy?.clipNorm = -1 }?.contains("--dp-clip") == true)
        #expect(message { $0.privacy?.noiseMultiplier = 0 }?.contains("--dp-noise") == true)
        #expect(message { $0.privacy?.noiseMultiplier = -2 }?.contains("--dp-noise") == true)
        #expect(message { $0.secureAggregation?.ringBits = 33 }?.contains("--secagg-ring-bits must be in 2…32") == true)
        let narrow = message { $0.secureAggregation?.ringBits = 8 }
        #expect(narrow?.contains("--secagg-ring-bits 8 cannot hold") == true, "\(narrow ?? "accepted")")
        #expect(message { $0.privacy?.placement = .distributed }?.contains("--dp-noise-placement") == true)
        #expect(message { $0.privacy?.accounting = .poisson }?.contains("--dp-accounting") == true)
        #expect(message { $0.privacy?.simulatedCohort = 100 }?.contains("--dp-simulated-cohort") == true)
        #expect(message { $0.privacy?.weighting = "capped:64" }?.contains("--dp-weighting") == true)
        #expect(message { $0.privacy?.perLayerClipping = true }?.contains("--dp-per-layer") == true)
        #expect(
            message {
                $0.privacy?.adaptiveQuantile = 0.5
                $0.privacy?.adaptiveCountNoise = 10
            }?.contains("--dp-adaptive-quantile") == true)
        #expect(
            message {
                $0.privacy = nil
                $0.secureAggregation?.ringBits = 24
            }?.contains("--secagg-ring-bits") == true)
        // Stored with the run: it round-trips.
        let c = Self.configuration()
        #expect(try RunConfiguration.decode(json: c.encodedJSON()) == c)
    }
}
