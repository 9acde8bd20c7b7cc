import Aggregation
import FederationProtocol
import FederationTestSupport
import Foundation
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer

@Suite("Defence stages in a run's chain")
struct DefenceStageTests {
    @Test(
        "Robust aggregators take the place of sum; norm-bound comes before the aggregator",
        arguments: [
            ("decode,weight,median,server-optimizer", nil),
            ("decode,weight:uniform,trimmed-mean:0.1,server-optimizer", nil),
            ("decode,norm-bound:1.0,weight,krum:f=1,server-optimizer", nil),
            ("decode,weight,norm-bound:2,multi-krum:f=1,m=3,server-optimizer", nil),
            ("decode,weight,sum,median,server-optimizer", "holds one sum"),
            ("decode,weight,server-optimizer", "holds one sum"),
            ("decode,weight,median,norm-bound:1,server-optimizer", "must come before median"),
            ("decode,weight,trimmed-mean:0.5,server-optimizer", "β must be in [0, 0.5)"),
            ("decode,norm-bound:0,weight,sum,server-optimizer", "bound C must be a number > 0"),
            ("decode,weight,krum,server-optimizer", "give f"),
        ] as [(String, String?)])
    func chainShape(chain: String, problem: String?) {
        let entries = chain.split(separator: ",").map(String.init)
        // multi-krum's argument holds a comma: rejoin it.
        var joined: [String] = []
        for e in entries {
            if e.hasPrefix("m="), let last = joined.popLast() {
                joined.append(last + "," + e)
            } else {
                joined.append(e)
            }
        }
        do {
            try AggregationStages.validate(joined)
            #expect(problem == nil, "\(chain) was accepted")
        } catch {
            #expect(problem != nil && error.message.contains(problem!), "\(error.message)")
        }
    }

    @Test("A run whose kept rounds can be too small for Krum's f is refused before anything is stored")
    func krumNeedsACohort() throws {
        var c = Fixtures.neuralConfiguration(rounds: 2)
        c.aggregationStages = ["decode", "weight", "krum:f=2", "server-optimizer"]
        // cohort 6 at 0.5 keeps rounds of 3 reports: Krum with f = 2 needs 7.
        do {
            try c.validate()
            Issue.record("krum:f=2 with cohort 6 validated")
        } catch {
            #expect(error.message.contains("--aggregation") && error.message.contains("krum:f=2"))
            #expect(error.message.contains("--cohort 6"))
        }
        c.cohort = 12
        c.minimumReportFraction = 0.75
        try c.validate()
    }

    @Test("A run with norm-bound and a trimmed mean stores both stages' reports each round, with device ids only")
    func storedWithTheRound() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 3)
        c.aggregationStages = ["decode", "norm-bound:0.05", "weight", "trimmed-mean:0.2", "server-optimizer"]
        try c.validate()
        let server = try Fixtures.server()
        let outcome = try await FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c)
        ).run(configuration: c)
        let rounds = try server.store.rounds(ofRun: outcome.attachment.runID).filter { !$0.abandoned }
        let reports = try server.store.stageReports(ofRun: outcome.attachment.runID)
        #expect(reports.count == 2 * rounds.count)
        for round in rounds {
            let mine = reports.filter { $0.round == round.number }
            #expect(mine.map(\.stage).sorted() == ["norm-bound", "trimmed-mean"])
            for record in mine {
                let report = try JSONDecoder().decode(DefenceReport.self, from: Data(record.json.utf8))
                #expect(report.norms.count == round.reported)
                if record.stage == "norm-bound" {
                    #expect(report.clipped == report.clippedDevices.count && report.clipped <= round.reported)
                } else {
                    #expect(report.trimmedPerCoordinate == Int(0.2 * Double(round.reported)))
                }
            }
        }
        // The defended run's model differs from plain FedAvg's (the bound is tight).
        var plain = c
        plain.aggregationStages = nil
        let reference = try await FederatedRunner(
            transport: InProcessTransport(server: try Fixtures.server()),
            dataset: try FederatedDataset(configuration: plain)
        ).run(configuration: plain)
        #expect(outcome.rounds.last!.summary.modelSHA256 != reference.rounds.last!.summary.modelSHA256)
    }

    @Test("Median and multi-Krum runs finish and resume to the same model")
    func resumes() async throws {
        for chain in [
            ["decode", "weight", "median", "server-optimizer"],
            ["decode", "weight:uniform", "multi-krum:f=0,m=2", "server-optimizer"],
        ] {
            var c = Fixtures.neuralConfiguration(rounds: 4)
            c.aggregationStages = chain
            let whole = try await FederatedRunner(
                transport: InProcessTransport(server: try Fixtures.server()),
                dataset: try FederatedDataset(configuration: c)
            ).run(configuration: c)
            let server = try Fixtures.server()
            let dataset = try FederatedDataset(configuration: c)
            let first = try await FederatedRunner(
                transport: InProcessTransport(server: server), dataset: dataset, observer: RoundLimit(2)
            ).run(configuration: c)
            let rest = try await FederatedRunner(transport: InProcessTransport(server: server), dataset: dataset)
                .run(resume: first.attachment.runID)
            #expect(rest.rounds.last!.summary.modelSHA256 == whole.rounds.last!.summary.modelSHA256, "\(chain)")
        }
    }
}
