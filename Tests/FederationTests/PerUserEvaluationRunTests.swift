import FederatedCore
import FederationProtocol
import FederationTestSupport
import Foundation
import LanguageModelTypes
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

/// Issue 18 end to end in-process: per-user figures stored with every evaluation,
/// personalization, FedProx, the regression guard and its rollback, and branched runs.
@Suite struct PerUserEvaluationRunTests {
    private func run(_ c: RunConfiguration?, server: AggregationServer, resume: Int64? = nil) async throws
        -> FederatedRunner.Outcome
    {
        let configuration = try c ?? RunConfiguration.decode(json: try server.store.requireRun(id: resume!).config)
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: configuration))
        return try await runner.run(configuration: resume == nil ? c : nil, resume: resume)
    }

    @Test("Every evaluation stores per-user counts whose token-weighted mean is the pooled acc@1 exactly")
    func perUserCountsAddUpToThePooledFigure() async throws {
        for var c in [Fixtures.neuralConfiguration(rounds: 4), Fixtures.ngramConfiguration(rounds: 4)] {
            c.federatedEval = true
            let server = try Fixtures.server()
            let outcome = try await run(c, server: server)
            let id = outcome.attachment.runID
            let users = try server.store.userEvaluations(ofRun: id)
            let dataset = try FederatedDataset(configuration: c)
            for e in try server.store.evaluations(ofRun: id) {
                let rows = users.filter { $0.round == e.round && $0.split == e.split }
                #expect(!rows.isEmpty)
                let predictions = rows.reduce(0) { $0 + $1.predictions }
                let hits = rows.reduce(0) { $0 + $1.hits1 }
                #expect(predictions == e.predictions)
                #expect(Double(hits) / Double(predictions) == e.acc1)
                if e.isHeadline {
                    // One row per evaluation user who typed something.
                    #expect(Set(rows.map(\.user)) == Set(dataset.evalUsers.userOfMessage.map(Int64.init)))
                } else {
                    #expect(e.split == "devices")  // federated: one row per reporting phone
                }
            }
            for p in outcome.rounds {
                guard let e = p.summary.evaluation else { continue }
                let u = try #require(p.summary.users)
                #expect(u.at1.pooled == e.accuracyAt1 && u.at3.pooled == e.accuracyAt3)
                #expect(u.at1.p10 <= u.at1.median && u.at1.median <= u.at1.p90)
                #expect((p.summary.federatedUsers != nil) == (p.summary.federatedEvaluation != nil))
            }
        }
    }

    @Test(
        "Personalization stores the global and the personalized figures on the same later text",
        arguments: [false, true])
    func personalization(neural: Bool) async throws {
        var c = neural ? Fixtures.neuralConfiguration(rounds: 2) : Fixtures.ngramConfiguration(rounds: 2)
        c.personalization = PersonalizationConfiguration(
            epochs: 2, learningRate: 0.3, batchSize: 4, lambda: neural ? nil : 0.5)
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        let p = try #require(outcome.rounds.last?.summary.personalization)
        let dataset = try FederatedDataset(configuration: c)
        // The global side is the committed model on each user's last 20%.
        let model = try ServerCheckpoint.decode(
            [UInt8](try #require(server.store.latestCheckpoint(ofRun: outcome.attachment.runID)?.data)),
            into: c.makeGlobalModel(vocabulary: dataset.vocabulary)
        ).model
        let global = try model.evaluate(on: dataset.personalization.flatMap(\.score))
        #expect(p.global.predictions == global.predictions && p.global.hitsAt1 == global.hitsAt1)
        #expect(p.global.hitsAt3 == global.hitsAt3)
        #expect(p.personalizedUsers.map(\.user) == dataset.personalization.map(\.user))
        #expect(p.personalized != p.global)
        #expect(p.helpedShare + p.hurtShare <= 1)
        #expect((p.lambda != nil) == !neural)
        let splits = try server.store.evaluations(ofRun: outcome.attachment.runID).map(\.split)
        #expect(splits.contains("personalized") && splits.contains("personal-global"))
        // Deterministic: the same run personalizes the same way.
        let again = try await run(c, server: try Fixtures.server())
        #expect(again.rounds.last?.summary.personalization == p)
    }

    @Test("FedProx with μ = 0 is FedAvg exactly, and μ > 0 changes the model")
    func fedProxRun() async throws {
        let c = Fixtures.neuralConfiguration(rounds: 2)
        var zero = c
        zero.client.proximalMu = 0
        var prox = c
        prox.client.proximalMu = 0.5
        let a = try await run(c, server: try Fixtures.server())
        let b = try await run(zero, server: try Fixtures.server())
        let d = try await run(prox, server: try Fixtures.server())
        #expect(a.rounds.last!.summary.modelSHA256 == b.rounds.last!.summary.modelSHA256)
        #expect(a.rounds.last!.summary.modelSHA256 != d.rounds.last!.summary.modelSHA256)
    }

    @Test("A branch from round R, with the same settings, repeats the original run's later rounds bit for bit")
    func branchReproduces() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 6)
        c.checkpointEvery = 1
        c.evalEvery = 1
        let server = try Fixtures.server()
        let original = try await run(c, server: server)
        let parent = original.attachment.runID
        let branch = try server.branchRun(from: parent, round: 3, configuration: c)
        #expect(try server.store.rounds(ofRun: branch).map(\.number) == [1, 2, 3])
        let stored = try RunConfiguration.decode(json: try server.store.requireRun(id: branch).config)
        #expect(stored.branchedFrom == RunLineage(run: parent, round: 3))
        let resumed = try await run(nil, server: server, resume: branch)
        #expect(resumed.finished)
        #expect(
            resumed.rounds.map(\.summary.modelSHA256) == original.rounds.suffix(3).map(\.summary.modelSHA256))
        #expect(resumed.rounds.map(\.summary.evaluation) == original.rounds.suffix(3).map(\.summary.evaluation))
        #expect(
            try server.store.participation(ofRun: branch) == (try server.store.participation(ofRun: parent)))
    }

    @Test("A regressing round (every phone poisoned) is flagged, and the guard rolls back to the best checkpoint")
    func rollback() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 4)
        c.checkpointEvery = 1
        c.evalEvery = 1
        let server = try Fixtures.server()
        let original = try await run(c, server: server)
        let best = original.rounds.max {
            ($0.summary.evaluation!.accuracyAt1, -$0.round) < ($1.summary.evaluation!.accuracyAt1, -$1.round)
        }!
        // Branch at the best round with every phone uploading noise: the next round regresses.
        var spiked = c
        spiked.attackers = 3000  // the whole fleet
        spiked.attack = "gaussian:10"
        spiked.rounds = best.round + 2
        spiked.regressionGuard = RegressionGuard(threshold: 0.005, rollback: true)
        let branch = try server.branchRun(from: original.attachment.runID, round: best.round, configuration: spiked)
        let resumed = try await run(nil, server: server, resume: branch)
        let first = try #require(resumed.rounds.first?.summary.regression)
        #expect(first.regressed && first.rolledBackTo == best.round && first.bestRound == best.round)
        #expect(first.drop > 0.005)
        // The run goes on from the best round's model: the next round's checkpoint holds the
        // best model, not the spiked one.
        let dataset = try FederatedDataset(configuration: c)
        let fresh = try c.makeGlobalModel(vocabulary: dataset.vocabulary)
        let restored = try ServerCheckpoint.decode(
            [UInt8](try #require(server.store.checkpoint(ofRun: branch, round: best.round + 1)?.data)), into: fresh)
        #expect(restored.model.sha256() == best.summary.modelSHA256)
        let flagged = try server.store.regressions(ofRun: branch)
        #expect(flagged.first?.round == best.round + 1 && flagged.first?.rolledBackTo == best.round)
    }

    @Test("Bad personalization, FedProx, regression and branch settings are refused, naming the flag, storing nothing")
    func badInput() async throws {
        func refused(_ edit: (inout RunConfiguration) -> Void, _ flag: String) {
            var c = Fixtures.neuralConfiguration()
            edit(&c)
            #expect {
                try c.validate()
            } throws: { ($0 as? FederationError)?.message.contains(flag) == true }
        }
        refused({ $0.personalization = PersonalizationConfiguration(learningRate: 0) }, "--personalize-lr")
        refused({ $0.personalization = PersonalizationConfiguration(learningRate: -1) }, "--personalize-lr")
        refused({ $0.personalization = PersonalizationConfiguration(lambda: 1.5) }, "--user-lambda")
        refused({ $0.personalization = PersonalizationConfiguration(lambda: -0.1) }, "--user-lambda")
        refused({ $0.personalization = PersonalizationConfiguration(epochs: 0) }, "--personalize-epochs")
        refused({ $0.client.proximalMu = -1 }, "--fedprox-mu")
        refused({ $0.regressionGuard = RegressionGuard(threshold: -0.1) }, "--regression-threshold")
        refused({ $0.split = "diagonal" }, "--split")
        refused({ $0.split = "per-user" }, "--split")  // a synthetic corpus
        refused({ $0.userThreshold = 2 }, "--user-threshold")

        let c = Fixtures.neuralConfiguration(rounds: 2)
        let server = try Fixtures.server()
        let original = try await run(c, server: server)
        let runs = try server.store.runs().count
        #expect {
            try server.branchRun(from: original.attachment.runID, round: 5, configuration: c)
        } throws: { ($0 as? RunStoreError)?.code == .noSuchRound }
        #expect {
            try server.branchRun(from: 99, round: 1, configuration: c)
        } throws: { ($0 as? RunStoreError)?.code == .noSuchRun }
        var other = c
        other.vocabularySize = 11
        #expect {
            try server.branchRun(from: original.attachment.runID, round: 1, configuration: other)
        } throws: { ($0 as? FederationError)?.message.contains("--vocab") == true }
        #expect(try server.store.runs().count == runs)
    }
}
