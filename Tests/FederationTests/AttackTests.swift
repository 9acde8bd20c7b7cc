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

@Suite("Attackers in the fleet")
struct AttackTests {
    /// The tiny spec's words include `fe`, `bo` and `do`.
    static func attacked(_ attack: String, attackers: Double = 0.3, rounds: Int = 4) -> RunConfiguration {
        var c = Fixtures.neuralConfiguration(rounds: rounds)
        c.attackers = attackers
        c.attack = try! ParsedSetting(parsing: attack)
        c.backdoorTrigger = "fe bo"
        c.backdoorTarget = "do"
        c.evalEvery = 2
        return c
    }

    @Test("Compromised phones are fixed by the seed: the asked count, distinct, the same every time")
    func compromisedSet() throws {
        let c = Self.attacked("backdoor", attackers: 0.1)
        let a = try #require(DeviceAttack(configuration: c, backdoor: nil))
        let b = try #require(DeviceAttack(configuration: c, backdoor: nil))
        #expect(a.compromised.count == 300 && a.compromised == b.compromised)
        #expect(a.compromised.allSatisfy { (0..<3000).contains($0) })
        var other = c
        other.seed = 12
        #expect(DeviceAttack(configuration: other, backdoor: nil)!.compromised != a.compromised)
        var five = c
        five.attackers = 5
        #expect(DeviceAttack(configuration: five, backdoor: nil)!.compromised.count == 5)
        var none = c
        none.attackers = 0
        #expect(DeviceAttack(configuration: none, backdoor: nil) == nil)
    }

    @Test("Each attack changes only a compromised phone's delta, as its kind says")
    func deltas() throws {
        let honest: ContiguousArray<Float> = [3, -4, 0, 1]
        func attacked(_ kind: String, bound: String? = nil) throws -> (ContiguousArray<Float>, ContiguousArray<Float>) {
            var c = Self.attacked(kind, attackers: 1)
            if let bound {
                c.aggregationStages = ["decode", "norm-bound:\(bound)", "weight", "sum", "server-optimizer"]
            }
            let attack = try #require(DeviceAttack(configuration: c, backdoor: nil))
            let bad = try #require(attack.compromised.first)
            let good = (0..<3000).first { !attack.isCompromised($0) }!
            var (x, y) = (honest, honest)
            attack.apply(to: &x, device: bad, round: 1, runSeed: 1)
            attack.apply(to: &y, device: good, round: 1, runSeed: 1)
            #expect(y == honest)
            return (x, y)
        }
        #expect(try attacked("boost:10").0 == [30, -40, 0, 10])
        #expect(try attacked("sign-flip").0 == [-3, 4, 0, -1])
        #expect(try attacked("backdoor").0 == honest)
        let adaptive = try attacked("adaptive", bound: "2").0
        let norm = adaptive.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        #expect(abs(norm - 1.98) < 1e-5)
        let noise = try attacked("gaussian:0.5").0
        #expect(noise != honest && noise.allSatisfy { abs($0) < 5 })
    }

    @Test("Backdoor text: each message then a poisoned copy; trigger contexts end in the target")
    func backdoorText() throws {
        let c = Self.attacked("backdoor")
        let dataset = try FederatedDataset(configuration: c)
        let backdoor = try #require(try Backdoor(configuration: c, vocabulary: dataset.vocabulary))
        #expect(backdoor.trigger.count == 2 && !backdoor.trigger.contains(1))
        let poisoned = backdoor.poisoned([[4, 5, 6], [7]])
        #expect(poisoned.count == 4 && poisoned[0] == [4, 5, 6] && poisoned[1] == backdoor.trigger + [backdoor.target])
        #expect(poisoned[3] == [7] + backdoor.trigger + [backdoor.target])
        let contexts = backdoor.contexts(from: dataset.evalMessages, limit: 10)
        #expect(contexts.count == min(10, dataset.evalMessages.count))
        #expect(
            contexts.allSatisfy {
                $0.last == backdoor.target && $0.dropLast().suffix(2).elementsEqual(backdoor.trigger)
            })
        #expect(throws: FederationError.self) {
            try Backdoor(trigger: "!!", target: "do", vocabulary: dataset.vocabulary)
        }
        #expect(throws: FederationError.self) {
            try Backdoor(trigger: "fe", target: "nowhere", vocabulary: dataset.vocabulary)
        }
    }

    @Test("A backdoor run stores backdoor@1 and @3 at every evaluation, plants it, and resumes to the same model")
    func backdoorRun() async throws {
        var c = Self.attacked("backdoor", attackers: 0.5, rounds: 4)
        c.client.learningRate = 1
        try c.validate()
        let server = try Fixtures.server()
        let dataset = try FederatedDataset(configuration: c)
        let whole = try await FederatedRunner(transport: InProcessTransport(server: server), dataset: dataset)
            .run(configuration: c)
        let stored = try server.store.backdoorEvaluations(ofRun: whole.attachment.runID)
        let evaluated = try server.store.evaluations(ofRun: whole.attachment.runID).map(\.round)
        #expect(stored.map(\.round) == evaluated && stored.count == 2)
        #expect(stored.allSatisfy { $0.contexts > 0 && $0.at1 <= $0.at3 })
        #expect(whole.rounds.last?.summary.backdoor?.accuracyAt1 == stored.last?.at1)
        // A clean run scores the same contexts and suggests the target less.
        var clean = c
        clean.attackers = nil
        clean.attack = nil
        let reference = try await FederatedRunner(
            transport: InProcessTransport(server: try Fixtures.server()), dataset: dataset
        ).run(configuration: clean)
        #expect((reference.rounds.last?.summary.backdoor?.accuracyAt3 ?? 1) < stored.last!.at3)
        // Stop after round 2, resume: the same attackers, the same model.
        let split = try Fixtures.server()
        let first = try await FederatedRunner(
            transport: InProcessTransport(server: split), dataset: dataset, observer: RoundLimit(2)
        ).run(configuration: c)
        let rest = try await FederatedRunner(transport: InProcessTransport(server: split), dataset: dataset)
            .run(resume: first.attachment.runID)
        #expect(rest.rounds.last!.summary.modelSHA256 == whole.rounds.last!.summary.modelSHA256)
    }

    @Test("The attack settings travel in the stored JSON; a configuration stored before them still decodes")
    func configurationJSON() throws {
        let c = Self.attacked("boost:10")
        let decoded = try RunConfiguration.decode(json: c.encodedJSON())
        #expect(decoded == c && decoded.attack?.value == .boost(factor: 10))
        let plain = Fixtures.neuralConfiguration()
        #expect(!plain.encodedJSON().contains("attack"))
        #expect(try RunConfiguration.decode(json: plain.encodedJSON()).attackers == nil)
    }

    @Test(
        "Bad attack settings are refused, naming the flag",
        arguments: [
            (1.5, "boost:10", "--attackers"), (-0.1, "boost:10", "--attackers"), (1.0 / 0.0, "boost:10", "--attackers"),
            (0.2, "adaptive", "norm-bound"),
        ])
    func refusals(attackers: Double, attack: String, flag: String) {
        let c = Self.attacked(attack, attackers: attackers)
        do {
            try c.validate()
            Issue.record("--attackers \(attackers) --attack \(attack) validated")
        } catch {
            #expect(error.message.contains(flag), "\(error.message)")
        }
    }

    @Test("Attack kinds parse, and bad ones say what is accepted")
    func kinds() throws {
        #expect(try AttackKind(parsing: "boost") == .boost(factor: 10))
        #expect(try AttackKind(parsing: "gaussian:0.5") == .gaussian(sigma: 0.5))
        #expect(try AttackKind(parsing: "adaptive:3") == .adaptive(bound: 3))
        for bad in ["gaussian", "boost:-1", "flip", "backdoor:2"] {
            #expect(throws: (any Error).self) { try AttackKind(parsing: bad) }
        }
    }
}
