import Aggregation
import FederationProtocol
import FederationTestSupport
import Foundation
import KeyboardCorpus
import LanguageModels
import Privacy
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

/// Differentially private n-gram runs in-process: the threshold the run derives, the ε
/// every round reports, the counts report the store keeps, the server enforcing the bound
/// on a phone that ignores it, and the settings that are refused.
@Suite struct PrivateCountsRunTests {
    static func configuration(rounds: Int = 4, noise: Double = 0.5, perOrder: Int = 16) -> RunConfiguration {
        var c = Fixtures.ngramConfiguration(rounds: rounds)
        let bounds = PrivacyConfiguration.CountBounds(maximumNGramsPerOrder: perOrder)
        var p = PrivacyConfiguration(noiseMultiplier: noise, clipNorm: bounds.sensitivity(order: 3))
        p.countBounds = bounds
        c.privacy = p
        return c
    }

    private func run(_ c: RunConfiguration, server: AggregationServer) async throws -> FederatedRunner.Outcome {
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c),
            observer: UnobservedRun())
        return try await runner.run(configuration: c, resume: nil)
    }

    /// The derived threshold is the smallest whose δ_τ, over the run's rounds (no enforced
    /// limit), is a tenth of δ; σ = z·c·√(N·M).
    @Test func theRunDerivesItsThreshold() throws {
        let c = Self.configuration(rounds: 4, noise: 0.5, perOrder: 16)
        let counts = try #require(CountPrivacy(c))
        let delta = PrivacyConfiguration.defaultDelta(devices: c.devices)
        #expect(counts.sensitivity == (48.0).squareRoot() && counts.standardDeviation == 0.5 * (48.0).squareRoot())
        let expected = SparseHistogramAccountant.threshold(
            forDelta: delta / 40, maximumCount: 1, keys: 48, standardDeviation: counts.standardDeviation)
        #expect(counts.threshold == expected && counts.participationBound == 4)
        #expect(counts.thresholdDeltaBudgetHolds)
        var limited = c
        limited.participation = ParticipationLimits(maximumParticipations: 1)
        #expect(try #require(CountPrivacy(limited)).threshold <= counts.threshold)
    }

    @Test("A DP n-gram run reports ε every round from the sparse-histogram accountant and stores its count report")
    func privateRun() async throws {
        let c = Self.configuration(rounds: 4)
        let counts = try #require(CountPrivacy(c))
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        #expect(outcome.finished)
        for p in outcome.rounds where !p.summary.abandoned {
            let privacy = try #require(p.summary.privacy)
            #expect(privacy.method == "gdp+threshold" && privacy.accounting == "participation")
            let g = try #require(
                try SparseHistogramAccountant.guarantee(
                    noiseMultiplier: 0.5, participations: privacy.maximumParticipations,
                    thresholdDelta: counts.thresholdDelta, delta: counts.delta))
            #expect(privacy.epsilon == g.epsilon)
        }
        let reports = try server.store.stageReports(ofRun: outcome.attachment.runID)
        let noise = reports.filter { $0.stage == "count-noise" }
        #expect(noise.count == outcome.rounds.filter { !$0.summary.abandoned }.count)
        let first = try JSONDecoder().decode(CountPrivacy.Report.self, from: Data(try #require(noise.first).json.utf8))
        #expect(first.threshold == counts.threshold && first.uploadsBoundedByServer == 0)
        #expect(first.releasedNGrams <= first.summedNGrams && first.summedNGrams > 0)
        // The same seed gives the same noisy model; exact counts give another.
        let again = try await run(c, server: try Fixtures.server())
        #expect(again.rounds.last?.summary.modelSHA256 == outcome.rounds.last?.summary.modelSHA256)
        let exact = try await run(Fixtures.ngramConfiguration(rounds: 4), server: try Fixtures.server())
        #expect(exact.rounds.last?.summary.modelSHA256 != outcome.rounds.last?.summary.modelSHA256)
    }

    /// A phone that uploads all its counts instead of its bounded ones is cut to the bound by
    /// the server: the sensitivity the accountant uses holds whatever phones send.
    @Test func theServerBoundsAnUploadThatIgnoresTheBound() throws {
        let c = Self.configuration(perOrder: 2)
        let dataset = try FederatedDataset(configuration: c)
        let privacy = try #require(CountPrivacy(c))
        let global = NGramGlobalModel(order: 3, vocabulary: dataset.vocabulary, privacy: privacy, seed: 1)
        let round = NGramRoundAggregation(global, round: 1, envelope: RoundEnvelope(runID: 7, round: 1))
        let text: [[Int32]] = [[5, 6, 7, 8, 9], [5, 6, 10], [11, 12, 5, 6]]
        let full = NGramCounts(order: 3, messages: text)
        #expect(full.distinctCount(order: 1) > 2)
        let bytes = NGramUpdateWire.encode(
            full, vocabularyCount: dataset.vocabulary.count,
            envelope: .init(runID: 7, round: 1, device: 3, exampleCount: full.tokenCount))
        _ = try round.receive(bytes, device: 3, extras: UploadExtras(virtualTime: 0))
        let (_, stageReports) = try round.close()
        let report = try #require(stageReports.first { $0.stage == "count-noise" })
        let decoded = try report.payload(as: CountPrivacy.Report.self)
        #expect(decoded.uploadsBoundedByServer == 1)
        #expect(decoded.summedNGrams <= 3 * 2)
    }

    /// One bad DP n-gram setting per case, with the flag its error must name.
    static func breaking(_ flag: String, _ c: inout RunConfiguration) {
        switch flag {
        case "dp-max-ngrams": c.privacy?.countBounds?.maximumNGramsPerOrder = 0
        case "dp-max-count": c.privacy?.countBounds?.maximumCount = 0
        case "dp-count-threshold": c.privacy?.countBounds?.threshold = 2
        case "dp-count-threshold-zero": c.privacy?.countBounds?.threshold = 0
        case "dp-accounting": c.privacy?.accounting = .poisson
        case "dp-mechanism": c.privacy?.mechanism = .tree
        case "dp-noise-placement": c.privacy?.placement = .distributed
        case "dp-simulated-cohort": c.privacy?.simulatedCohort = 5000
        case "dp-weighting": c.privacy?.weighting = "capped:8"
        case "dp-adaptive-quantile": c.privacy?.adaptiveQuantile = 0.5
        case "dp-noise": c.privacy?.countBounds = nil
        case "dp-delta": c.privacy?.delta = 1.5
        default: Issue.record("no case \(flag)")
        }
    }

    @Test(
        "DP n-gram settings that break the sensitivity or the accounting are refused, naming the flag",
        arguments: [
            "dp-max-ngrams", "dp-max-count", "dp-count-threshold", "dp-count-threshold-zero", "dp-accounting",
            "dp-mechanism", "dp-noise-placement", "dp-simulated-cohort", "dp-weighting", "dp-adaptive-quantile",
            "dp-noise", "dp-delta",
        ])
    func refused(flag: String) {
        var c = Self.configuration()
        Self.breaking(flag, &c)
        let named = "--" + flag.replacingOccurrences(of: "-zero", with: "")
        #expect {
            try c.validate()
        } throws: { error in
            "\(error)".contains(named)
        }
    }

    @Test func aNeuralRunRefusesCountBounds() {
        var c = Fixtures.neuralConfiguration()
        var p = PrivacyConfiguration(noiseMultiplier: 1, clipNorm: 0.5)
        p.countBounds = .init(maximumNGramsPerOrder: 8)
        c.privacy = p
        #expect {
            try c.validate()
        } throws: { error in
            "\(error)".contains("--dp-max-ngrams")
        }
    }
}
