import Aggregation
import FederationProtocol
import FederationTestSupport
import Foundation
import Privacy
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

/// Federated runs with user-level differential privacy and participation limits, end to end
/// in-process: the chain the settings build, the ε every round reports, what the store
/// keeps, resuming, and the configurations that are refused.
@Suite struct DifferentialPrivacyRunTests {
    private func run(_ c: RunConfiguration, server: AggregationServer, limit: Int? = nil, resume: Int64? = nil)
        async throws -> FederatedRunner.Outcome
    {
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c),
            observer: limit.map { RoundLimit($0) } ?? UnobservedRun())
        return try await runner.run(configuration: resume == nil ? c : nil, resume: resume)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ record: StageReportRecord) throws -> T {
        try JSONDecoder().decode(type, from: Data(record.json.utf8))
    }

    static func privateConfiguration(rounds: Int = 4) -> RunConfiguration {
        var c = Fixtures.neuralConfiguration(rounds: rounds, codec: "f32")
        c.privacy = PrivacyConfiguration(noiseMultiplier: 1.1, clipNorm: 0.5)
        return c
    }

    @Test("DP settings build the DP-FedAvg chain, and DP-FTRL's")
    func chains() {
        var c = Self.privateConfiguration()
        #expect(
            c.effectiveAggregationStages == [
                "decode", "weight:uniform", "clip", "gaussian-noise", "sum", "server-optimizer",
            ])
        c.privacy?.mechanism = .tree
        c.privacy?.weighting = "capped:64"
        #expect(c.effectiveAggregationStages == ["decode", "weight:capped:64", "clip", "sum", "ftrl-tree"])
    }

    @Test("A DP-FedAvg run reports ε every round from the most-often-used phone's participations")
    func privateRun() async throws {
        let c = Self.privateConfiguration(rounds: 4)
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        #expect(outcome.finished)
        let delta = PrivacyConfiguration.defaultDelta(devices: c.devices)
        #expect(delta == 1e-5)  // 3,000 phones: the largest power of ten ≤ 1/30,000
        var previous = 0.0
        for p in outcome.rounds where !p.summary.abandoned {
            let privacy = try #require(p.summary.privacy)
            #expect(privacy.accounting == "participation" && privacy.method == "gdp" && privacy.delta == delta)
            let expected = GaussianMechanismAccountant.epsilon(
                noiseMultiplier: 1.1, participations: privacy.maximumParticipations, delta: delta)
            #expect(privacy.epsilon == expected)
            #expect(privacy.epsilon >= previous)
            previous = privacy.epsilon
        }
        // The store has the clip, noise and privacy reports of every kept round.
        let reports = try server.store.stageReports(ofRun: outcome.attachment.runID)
        let kept = outcome.rounds.filter { !$0.summary.abandoned }.count
        for stage in ["clip", "gaussian-noise", "privacy"] {
            #expect(reports.filter { $0.stage == stage }.count == kept, "\(stage)")
        }
        let noise = try Self.decode(
            GaussianNoiseStage.Report.self, try #require(reports.first { $0.stage == "gaussian-noise" }))
        #expect(noise.noiseStandardDeviation == 1.1 * 0.5 && noise.denominator == Double(c.cohort))
        // The same seed gives the same noisy model.
        let again = try await run(c, server: try Fixtures.server())
        #expect(again.rounds.last?.summary.modelSHA256 == outcome.rounds.last?.summary.modelSHA256)
        // Without noise the model is another.
        let plain = try await run(Fixtures.neuralConfiguration(rounds: 4, codec: "f32"), server: try Fixtures.server())
        #expect(plain.rounds.last?.summary.modelSHA256 != outcome.rounds.last?.summary.modelSHA256)
    }

    @Test("Adaptive clipping, distributed noise and DP-FTRL runs resume to the model of an uninterrupted run")
    func resumes() async throws {
        var adaptive = Self.privateConfiguration(rounds: 4)
        adaptive.privacy?.adaptiveQuantile = 0.5
        adaptive.privacy?.noiseMultiplier = 0.8
        adaptive.privacy?.adaptiveCountNoise = 2
        var distributed = Self.privateConfiguration(rounds: 4)
        distributed.privacy?.placement = .distributed
        var tree = Self.privateConfiguration(rounds: 4)
        tree.privacy?.mechanism = .tree
        tree.privacy?.accounting = .tree
        tree.participation = ParticipationLimits(maximumParticipations: 2, minimumSeparation: 2)
        for c in [adaptive, distributed, tree] {
            let whole = try await run(c, server: try Fixtures.server())
            let path = NSTemporaryDirectory() + "kbd-sim-dp-\(UUID().uuidString).sqlite"
            defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
            let first = try await run(c, server: AggregationServer(store: try RunStore.open(path: path)), limit: 2)
            #expect(!first.finished)
            let rest = try await run(
                c, server: AggregationServer(store: try RunStore.open(path: path)), resume: first.attachment.runID)
            #expect(rest.finished)
            #expect(
                rest.rounds.last?.summary.modelSHA256 == whole.rounds.last?.summary.modelSHA256,
                "\(c.effectiveAggregationStages)")
        }
    }

    @Test("Poisson accounting reports the PLD ε with RDP beside it; tree accounting the zCDP of the whole run's tree")
    func samplingAndTreeAccounting() async throws {
        var poisson = Self.privateConfiguration(rounds: 3)
        poisson.privacy?.accounting = .poisson
        let a = try await run(poisson, server: try Fixtures.server())
        let last = try #require(a.rounds.last?.summary.privacy)
        let q = Double(poisson.cohort) / Double(poisson.devices)
        let pld = try PLDAccountant(sampling: .poisson(rate: q), noiseMultiplier: 1.1).epsilon(rounds: 3, delta: 1e-5)
        #expect(last.method == "pld" && last.epsilon == pld.epsilon)
        #expect(last.assumption.contains("ASSUMES Poisson sampling"))
        #expect(try #require(last.epsilonRDP) >= last.epsilon)
        var tree = Self.privateConfiguration(rounds: 4)
        tree.privacy?.mechanism = .tree
        tree.privacy?.accounting = .tree
        tree.participation = ParticipationLimits(maximumParticipations: 2, minimumSeparation: 2)
        let b = try await run(tree, server: try Fixtures.server())
        let expected = try TreeAccountant(noiseMultiplier: 1.1, rounds: 4, minSeparation: 2, maxParticipations: 2)
            .epsilon(delta: 1e-5)
        for p in b.rounds where !p.summary.abandoned {
            let status = try #require(p.summary.privacy)
            #expect(status.method == "zcdp" && status.epsilon == expected.epsilon && status.rho == expected.rho)
        }
    }

    @Test("Adaptive clipping moves the clip norm, and the store records it round by round")
    func adaptiveClipMoves() async throws {
        var c = Self.privateConfiguration(rounds: 4)
        c.privacy?.adaptiveQuantile = 0.5
        c.privacy?.clipNorm = 1e-4
        c.privacy?.noiseMultiplier = 0.5
        c.privacy?.adaptiveCountNoise = 1
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        let clips = try server.store.stageReports(ofRun: outcome.attachment.runID).filter { $0.stage == "clip" }
            .map { try Self.decode(ClipStage.Report.self, $0) }
        #expect(clips.count >= 2)
        // Every update is far above 1e-4, so C grows by e^(0.2 · 0.5) a round, up to the count noise.
        #expect(clips.last!.clipNorm > clips.first!.clipNorm)
        #expect(clips.allSatisfy { $0.noisyUnclippedFraction != nil })
    }

    @Test("Participation limits: no phone reports more than allowed or sooner than the separation")
    func participationLimits() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 8, codec: "f32")
        c.devices = 60
        c.cohort = 6
        c.overSelection = 1
        c.participation = ParticipationLimits(maximumParticipations: 2, minimumSeparation: 3)
        final class Collector: RunObserver, @unchecked Sendable {
            var rounds: [(Int, [UInt32])] = []
            func roundCommitted(_ progress: RoundProgress) {
                rounds.append((progress.round, progress.summary.participants ?? []))
            }
        }
        let collector = Collector()
        let server = try Fixtures.server()
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c),
            observer: collector)
        let outcome = try await runner.run(configuration: c)
        var seen: [UInt32: [Int]] = [:]
        for (round, devices) in collector.rounds { for d in devices { seen[d, default: []].append(round) } }
        #expect(!seen.isEmpty)
        for (_, rounds) in seen {
            #expect(rounds.count <= 2)
            if rounds.count == 2 { #expect(rounds[1] - rounds[0] >= 3) }
        }
        // The store holds the same counts and last rounds, and the skipped phones per round.
        let history = try server.store.participationHistory(ofRun: outcome.attachment.runID)
        #expect(history.count == seen.count)
        for row in history {
            let rounds = try #require(seen[UInt32(row.device)])
            #expect(row.rounds == rounds.count && row.lastRound == rounds.last)
        }
        let limits = try server.store.stageReports(ofRun: outcome.attachment.runID).filter {
            $0.stage == "participation-limits"
        }
        #expect(!limits.isEmpty)
    }

    @Test("The server refuses a round that selects a phone over its participation limit")
    func serverEnforcesLimits() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 4, codec: "f32")
        c.participation = ParticipationLimits(maximumParticipations: 1)
        let server = try Fixtures.server()
        let first = try await run(c, server: server, limit: 1)
        let used = try #require(try server.store.participationHistory(ofRun: first.attachment.runID).first)
        _ = try server.resumeRun(id: first.attachment.runID)
        #expect(throws: ServerRejection.self) {
            try server.openRound(
                run: first.attachment.runID,
                RoundOpening(
                    round: 2, selected: [UInt32(used.device)], virtualStart: c.startTime, deadline: c.startTime + 600))
        }
    }

    /// A bad setting, by the flag its error must name.
    static let badSettings: [(flag: String, change: @Sendable (inout RunConfiguration) -> Void)] = [
        ("dp-noise", { $0.privacy?.noiseMultiplier = 0 }),
        ("dp-noise", { $0.privacy?.noiseMultiplier = -1 }),
        ("dp-clip", { $0.privacy?.clipNorm = 0 }),
        ("dp-delta", { $0.privacy?.delta = 1 }),
        ("dp-delta", { $0.privacy?.delta = 0 }),
        ("dp-adaptive-quantile", { $0.privacy?.adaptiveQuantile = 1 }),
        ("dp-adaptive-quantile", { $0.privacy?.adaptiveQuantile = 0 }),
        ("dp-weighting", { $0.privacy?.weighting = "examples" }),
        ("dp-simulated-cohort", { $0.privacy?.simulatedCohort = 2 }),
        ("dp-simulated-cohort", { $0.privacy?.simulatedCohort = 5000 }),
        (
            "dp-count-noise",
            {
                $0.privacy?.adaptiveQuantile = 0.5
                $0.privacy?.adaptiveCountNoise = 0.1
            }
        ),
        ("min-separation", { $0.participation = .init(minimumSeparation: 4) }),
        (
            "dp-accounting",
            {
                $0.privacy?.mechanism = .tree
                $0.privacy?.accounting = .tree
            }
        ),
        ("dp-accounting", { $0.privacy?.accounting = .tree }),
        (
            "max-participations",
            {
                $0.privacy?.mechanism = .tree
                $0.privacy?.accounting = .tree
                $0.participation = .init(maximumParticipations: 3, minimumSeparation: 2)
            }
        ),
        (
            "dp-noise",
            {
                $0.model = .ngram(order: 3)
                $0.modelName = "kn3"
            }
        ),
    ]

    @Test("Bad DP settings are refused naming the flag, and nothing is stored", arguments: 0..<badSettings.count)
    func refused(_ index: Int) throws {
        let (flag, change) = Self.badSettings[index]
        var c = Self.privateConfiguration(rounds: 4)
        change(&c)
        let server = try Fixtures.server()
        #expect {
            _ = try server.createRun(c)
        } throws: { error in
            (error as? FederationError)?.code == .invalidConfiguration
                && (error as? FederationError)?.message.contains("--\(flag)") == true
        }
        #expect(try server.store.runs().isEmpty)
    }

    @Test("An explicit chain keeps DP's order: clip before the noise, bounded weights before the clip")
    func chainOrder() throws {
        for chain in [
            ["decode", "weight:uniform", "gaussian-noise", "clip", "sum", "server-optimizer"],
            ["decode", "weight", "clip", "gaussian-noise", "sum", "server-optimizer"],
            ["decode", "weight:uniform", "clip", "sum", "gaussian-noise", "server-optimizer"],
            ["decode", "weight:uniform", "sum", "ftrl-tree"],
        ] {
            var c = Self.privateConfiguration()
            c.aggregationStages = chain
            #expect(throws: FederationError.self, "\(chain)") { try c.validate() }
        }
        var plain = Fixtures.neuralConfiguration()
        plain.aggregationStages = ["decode", "weight:uniform", "clip", "sum", "server-optimizer"]
        #expect(throws: FederationError.self) { try plain.validate() }
    }
}
