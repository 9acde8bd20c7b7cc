import FederatedCore
import FederationProtocol
import FederationTestSupport
import Fleet
import Foundation
import KeyboardCorpus
import LanguageModelTypes
import RunStore
import Testing

@testable import Federation
@testable import FederationFleet
@testable import FederationServer
@testable import LanguageModels

@Suite("Federated runs, in-process")
struct FederatedRunTests {
    private func run(_ c: RunConfiguration, server: AggregationServer, limit: Int? = nil, resume: Int64? = nil)
        async throws -> FederatedRunner.Outcome
    {
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c),
            observer: limit.map { RoundLimit($0) } ?? UnobservedRun())
        return try await runner.run(configuration: resume == nil ? c : nil, resume: resume)
    }

    @Test("A neural run commits every round, evaluates on schedule and improves on the initial model")
    func neuralRun() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 6)
        c.serverOptimizer = "fedavg"
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        #expect(outcome.finished)
        let id = outcome.attachment.runID
        let rounds = try server.store.rounds(ofRun: id)
        #expect(rounds.map(\.number) == Array(1...6))
        #expect(rounds.allSatisfy { $0.bytesUp > 0 || $0.abandoned })
        let evaluations = try server.store.evaluations(ofRun: id)
        #expect(evaluations.map(\.round) == [2, 4, 6])
        #expect(try server.store.getRun(id: id)?.status == .finished)
        // The tiny spec is learnable: the model must beat its Zipf-prior start.
        let dataset = try FederatedDataset(configuration: c)
        let initial = try c.makeGlobalModel(vocabulary: dataset.vocabulary).evaluate(on: dataset.evalMessages)
        #expect(evaluations.last!.ppl! < initial.perplexity)
        // Participation counts add up to the reports.
        let participation = try server.store.participation(ofRun: id)
        #expect(participation.values.reduce(0, +) == rounds.filter { !$0.abandoned }.reduce(0) { $0 + $1.reported })
    }

    @Test("The same seed gives the same model twice; another seed does not")
    func reproducible() async throws {
        let c = Fixtures.neuralConfiguration(rounds: 3)
        let a = try await run(c, server: try Fixtures.server())
        let b = try await run(c, server: try Fixtures.server())
        #expect(a.rounds.last!.summary.modelSHA256 == b.rounds.last!.summary.modelSHA256)
        #expect(a.rounds.last!.summary.evaluation == b.rounds.last!.summary.evaluation)
        var other = c
        other.seed = 12
        let d = try await run(other, server: try Fixtures.server())
        #expect(d.rounds.last!.summary.modelSHA256 != a.rounds.last!.summary.modelSHA256)
    }

    @Test("Training the cohort on 1 or 2 workers gives the same model")
    func workerCountIndependent() async throws {
        let c = Fixtures.neuralConfiguration(rounds: 2)
        var models: [String] = []
        for workers in [1, 2] {
            let runner = FederatedRunner(
                transport: InProcessTransport(server: try Fixtures.server()),
                dataset: try FederatedDataset(configuration: c), workers: workers)
            models.append(try await runner.run(configuration: c).rounds.last!.summary.modelSHA256)
        }
        #expect(models[0] == models[1])
    }

    @Test(
        "A run stopped after round 2 and resumed on a new server reaches the same model as an uninterrupted run",
        arguments: ["neural", "ngram"])
    func resumeMatchesUninterrupted(kind: String) async throws {
        var c = kind == "neural" ? Fixtures.neuralConfiguration(rounds: 5) : Fixtures.ngramConfiguration(rounds: 5)
        c.serverOptimizer = "fedadam:lr=0.01"  // stateful: the moments must survive the restart too
        let wholeServer = try Fixtures.server()
        let whole = try await run(c, server: wholeServer)

        let path = NSTemporaryDirectory() + "kbd-sim-resume-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let first = try await run(c, server: AggregationServer(store: try RunStore.open(path: path)), limit: 2)
        #expect(!first.finished)
        let id = first.attachment.runID
        // A new process: a new server over the same file.
        let store = try RunStore.open(path: path)
        #expect(try store.lastCommittedRound(ofRun: id) == 2)
        let resumed = try await run(c, server: AggregationServer(store: store), resume: id)
        #expect(resumed.finished)
        #expect(resumed.rounds.map(\.round) == [3, 4, 5])
        #expect(try store.rounds(ofRun: id).map(\.number) == [1, 2, 3, 4, 5])
        #expect(resumed.rounds.last!.summary.modelSHA256 == whole.rounds.last!.summary.modelSHA256)
        #expect(resumed.rounds.last!.summary.evaluation == whole.rounds.last!.summary.evaluation)
        // Every round stores its reporting devices by local hour, summing to its reports, and
        // the resumed rounds record the same hours as the uninterrupted ones.
        let stored = try store.rounds(ofRun: id)
        for round in stored {
            let hours = try #require(round.reportingLocalHours)
            #expect(hours.count == 24 && hours.reduce(0, +) == round.reported)
        }
        #expect(
            try wholeServer.store.rounds(ofRun: whole.attachment.runID).map(\.reportingLocalHours)
                == stored.map(\.reportingLocalHours))
        // Only the newest checkpoint is kept.
        #expect(try store.latestCheckpoint(ofRun: id)?.round == 5)
    }

    @Test("A finished run cannot be resumed; an unknown run id names the runs that exist")
    func resumeRefusals() async throws {
        let server = try Fixtures.server()
        let done = try await run(Fixtures.ngramConfiguration(rounds: 1), server: server)
        await #expect(throws: FederationError.self) { try server.resumeRun(id: done.attachment.runID) }
        #expect(throws: RunStoreError.self) { try server.resumeRun(id: 99) }
    }

    @Test("A device's per-round sample: at most the limit, a subset in corpus order, keyed by its seed")
    func messageSample() {
        let messages: [[Int32]] = (0..<50).map { [Int32($0), Int32($0)] }
        #expect(RoundText.sample(messages, atMost: nil, seed: 1) == messages)
        #expect(RoundText.sample(messages, atMost: 50, seed: 1) == messages)
        let a = RoundText.sample(messages, atMost: 8, seed: 1)
        #expect(a.count == 8)
        #expect(Set(a.map { $0[0] }).count == 8)
        #expect(a.map { $0[0] } == a.map { $0[0] }.sorted())
        #expect(RoundText.sample(messages, atMost: 8, seed: 1) == a)
        #expect(RoundText.sample(messages, atMost: 8, seed: 2) != a)
        // Every message is drawn sometimes: the sample is not a fixed window.
        var seen = Set<Int32>()
        for seed in 0..<200 {
            seen.formUnion(RoundText.sample(messages, atMost: 8, seed: UInt64(seed)).map { $0[0] })
        }
        #expect(seen.count == 50)
    }

    @Test(
        "--max-device-messages caps what each device trains on, a fresh sample each round; n-gram devices still count everything"
    )
    func deviceMessageCap() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 3)
        c.client.messageCap = 2
        let server = try Fixtures.server()
        let recorder = SizeRecorder()
        let runner = FederatedRunner(
            transport: InProcessTransport(server: server), dataset: try FederatedDataset(configuration: c),
            observer: recorder)
        let capped = try await runner.run(configuration: c)
        let sizes = recorder.sizes
        #expect(!sizes.isEmpty && sizes.allSatisfy { $0 <= 2 })
        #expect(sizes.contains(2))
        // The same run without a cap trains on more text and ends elsewhere.
        var uncapped = c
        uncapped.client.messageCap = nil
        let full = try await run(uncapped, server: try Fixtures.server())
        let tokens = { (o: FederatedRunner.Outcome) in o.rounds.reduce(0) { $0 + $1.summary.tokens } }
        #expect(tokens(capped) < tokens(full))
        #expect(capped.rounds.last!.summary.modelSHA256 != full.rounds.last!.summary.modelSHA256)
        // Reproducible with the cap.
        let again = try await run(c, server: try Fixtures.server())
        #expect(again.rounds.last!.summary.modelSHA256 == capped.rounds.last!.summary.modelSHA256)
        // n-gram devices are not capped (counting is cheap): same model as without the cap.
        var ngram = Fixtures.ngramConfiguration(rounds: 2)
        let plain = try await run(ngram, server: try Fixtures.server())
        ngram.client.messageCap = 1
        let cappedNgram = try await run(ngram, server: try Fixtures.server())
        #expect(plain.rounds.last!.summary.modelSHA256 == cappedNgram.rounds.last!.summary.modelSHA256)
    }

    @Test("--home-wifi-fraction shapes the run's fleet: at 0 no phone ever trains, at 1 every phone can")
    func homeWiFi() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 2)
        let arrivals = { (c: RunConfiguration) in
            try FederatedRunner.population(for: c).habits.map { ($0 >> 24) & 0xFF }
        }
        // Arrival hour 255 marks a phone without home Wi-Fi.
        #expect(try arrivals(c).contains(255))
        c.homeWiFiFraction = 1
        #expect(try !arrivals(c).contains(255))
        c.homeWiFiFraction = 0
        #expect(try arrivals(c).allSatisfy { $0 == 255 })
        let outcome = try await run(c, server: try Fixtures.server())
        #expect(outcome.rounds.allSatisfy { $0.outcome.selected.isEmpty && $0.summary.abandoned })
    }

    @Test("Client dropout reaches the device's training plan and changes the model; it stays reproducible")
    func clientDropout() async throws {
        var c = Fixtures.neuralConfiguration(rounds: 2)
        let plain = try await run(c, server: try Fixtures.server())
        c.client.dropout = 0.3
        let server = try Fixtures.server()
        let withDropout = try await run(c, server: server)
        #expect(withDropout.rounds.last!.summary.modelSHA256 != plain.rounds.last!.summary.modelSHA256)
        let again = try await run(c, server: try Fixtures.server())
        #expect(again.rounds.last!.summary.modelSHA256 == withDropout.rounds.last!.summary.modelSHA256)
        #expect(withDropout.rounds.allSatisfy { $0.summary.evaluation.map { $0.perplexity.isFinite } ?? true })
    }

    @Test(
        "A heavy typist straggles when it must train an LSTM on all its text, but reports its n-gram counts (counting is cheap)"
    )
    func heavyTypist() async throws {
        // u01 (a training user) typed 3,000 messages, 30,000 tokens: more than 600 s of LSTM
        // training on the fastest phone.
        let folder = try Self.typistsFolder(heavyMessages: 3_000)
        defer { try? FileManager.default.removeItem(at: folder) }
        var neural = Self.typistsConfiguration(folder: folder, rounds: 30)
        neural.cohort = 2
        neural.minimumReportFraction = 0.5
        var ngram = neural
        ngram.modelName = "kn3"
        ngram.model = .ngram(order: 3)
        let heavy = try Self.heavyDevice(neural, messages: 3_000)
        func reports(_ c: RunConfiguration) async throws -> (reported: Int, selected: Int, nobodyEligible: Int) {
            let outcome = try await run(c, server: try Fixtures.server())
            #expect(outcome.finished)
            let rounds = outcome.rounds.map(\.outcome)
            // Hours when none of the 9 phones is eligible: the round selects nobody, is
            // committed as abandoned, and the run goes on.
            let empty = outcome.rounds.filter { $0.outcome.selected.isEmpty }
            #expect(empty.allSatisfy { $0.summary.abandoned && $0.summary.reported == 0 })
            return (
                rounds.filter { $0.reported.contains(UInt32(heavy)) }.count,
                rounds.filter { $0.selected.contains(UInt32(heavy)) }.count,
                empty.count
            )
        }
        let n = try await reports(ngram)
        #expect(n.reported >= 1, "the heavy phone reported its counts")
        #expect(n.nobodyEligible >= 1)
        let l = try await reports(neural)
        #expect(l.selected >= 1 && l.reported == 0, "selected \(l.selected) times, never in time")
        // With a per-round sample of 64 messages it trains in time.
        var capped = neural
        capped.client.messageCap = 64
        #expect(try await reports(capped).reported >= 1)
    }

    @Test(
        "Over-selection discards the heavy typist, who finishes last; selecting exactly K keeps every report it sends")
    func overSelectionBias() async throws {
        let folder = try Self.typistsFolder(users: 40, heavyMessages: 400)
        defer { try? FileManager.default.removeItem(at: folder) }
        var c = Self.typistsConfiguration(folder: folder, rounds: 48)
        c.devices = 24
        c.cohort = 3
        c.minimumReportFraction = 0.3
        c.client.messageCap = 64
        c.reportingDeadline = 3600
        let heavy = UInt32(try Self.heavyDevice(c, messages: 400))
        func fate(_ c: RunConfiguration) async throws -> (
            selected: Int, reported: Int, dropped: Int, surplus: Int, allSurplus: Int
        ) {
            let outcome = try await run(c, server: try Fixtures.server())
            #expect(outcome.finished)
            let rounds = outcome.rounds.map(\.outcome)
            let count = { (pick: (RoundOutcome) -> [UInt32]) in rounds.filter { pick($0).contains(heavy) }.count }
            return (
                count(\.selected), count(\.reported), count(\.dropped), count(\.surplus),
                rounds.reduce(0) { $0 + $1.surplus.count }
            )
        }
        c.overSelection = 1
        let patient = try await fate(c)
        #expect(patient.allSurplus == 0)
        #expect(patient.selected >= 2)
        #expect(
            patient.reported == patient.selected - patient.dropped, "no straggling within an hour, nothing discarded")
        c.overSelection = 2
        let eager = try await fate(c)
        #expect(eager.surplus >= 1, "the heavy phone finished after K lighter ones and was discarded")
        #expect(
            Double(eager.reported) / Double(max(eager.selected, 1)) < Double(patient.reported)
                / Double(patient.selected),
            "heavy phone: \(eager.reported) of \(eager.selected) selections reported with over-selection, \(patient.reported) of \(patient.selected) without"
        )
    }

    /// A folder corpus of `users` users (one file each) who typed 6 messages, except u01, a
    /// training user, who typed `heavyMessages`.
    private static func typistsFolder(users: Int = 12, heavyMessages: Int) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "kbd-sim-typists-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let phrases = ["see you at the station", "are you coming home tonight", "call me when you get there later"]
        for user in 0..<users {
            let count = user == 1 ? heavyMessages : 6
            let text = (0..<count).map { phrases[($0 + user) % phrases.count] }.joined(separator: "\n")
            try Data(text.utf8).write(to: folder.appendingPathComponent(String(format: "u%02d.txt", user)))
        }
        return folder
    }

    /// A neural run over ``typistsFolder(users:heavyMessages:)``: 9 phones, hourly rounds.
    private static func typistsConfiguration(folder: URL, rounds: Int) -> RunConfiguration {
        var c = Fixtures.neuralConfiguration(rounds: rounds)
        c.corpus = folder.path
        c.vocabularySize = 12
        c.devices = 9
        c.roundInterval = 3600
        c.evalEvery = 0
        return c
    }

    /// The phone of the user who typed `messages` messages.
    private static func heavyDevice(_ c: RunConfiguration, messages: Int) throws -> Int {
        let dataset = try FederatedDataset(configuration: c)
        let population = try FederatedRunner.population(for: c)
        return try #require(
            (0..<c.devices).first { dataset.trainingMessages(of: $0, at: 0, population: population).count == messages })
    }

    @Test("Federated n-gram counts equal the counts of the participants' text")
    func ngramCountsAreExact() async throws {
        let c = Fixtures.ngramConfiguration(rounds: 3)
        let server = try Fixtures.server()
        let outcome = try await run(c, server: server)
        let dataset = try FederatedDataset(configuration: c)
        let population = try FederatedRunner.population(for: c)
        // Every participant contributed its text of the days before each round's start, once.
        var expected = NGramCounts(order: 3)
        var through: [Int: Int] = [:]
        for p in outcome.rounds {
            for d in p.outcome.reported {
                let device = Int(d)
                let messages = dataset.trainingMessages(
                    of: device, at: p.outcome.startTime, population: population, sinceDay: through[device])
                expected.merge(NGramCounts(order: 3, messages: messages))
                through[device] = dataset.currentDay(of: device, at: p.outcome.startTime, population: population)
            }
        }
        var global = NGramGlobalModel(order: 3, vocabulary: dataset.vocabulary)
        global.counts = expected
        #expect(global.sha256() == outcome.rounds.last!.summary.modelSHA256)
    }
}

/// Collects the per-device message counts a runner's cohort hook reports.
private final class SizeRecorder: RunObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ more: [Int]) { lock.withLock { values += more } }
    var sizes: [Int] { lock.withLock { values } }
    var wantsCohorts: Bool { true }
    func cohortTrained(round: Int, messages: [[[Int32]]], weights: [Int]) { add(messages.map(\.count)) }
}
