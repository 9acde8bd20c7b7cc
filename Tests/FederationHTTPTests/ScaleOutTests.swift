import Aggregation
import Federation
import FederationFleet
import FederationHTTP
import FederationProtocol
import FederationServer
import Foundation
import LanguageModels
import RunStore
import Synchronization
import Testing

/// Scale-out (docs/scale-out.md): workers lease shards of the coordinator's rounds, and the
/// run is the same bits as the same run in one process.
@Suite(.serialized)
struct ScaleOutTests {
    /// ``tinyRunConfiguration()`` summed in shards of 2 (cohort 5: shards of 2, 2 and 1).
    static func shardedConfiguration() -> RunConfiguration {
        var c = tinyRunConfiguration()
        c.shardSize = 2
        c.client.dropout = 0.2
        c.client.messageCap = 8
        return c
    }

    /// Runs `configuration` over HTTP with training on `workers` in-process workers (each its
    /// own ``ShardWorker`` over HTTP); `beforeWorkers` runs once the server is up.
    static func remoteRun(
        _ configuration: RunConfiguration, dataset: FederatedDataset, workers: Int, leaseSeconds: Double = 600,
        store: RunStore? = nil, resume: Int64? = nil, observer: any RunObserver = UnobservedRun(),
        beforeWorkers: @escaping @Sendable (URL) async throws -> Void = { _ in }
    ) async throws -> FederatedRunner.Outcome {
        let aggregation = AggregationServer(store: try store ?? RunStore.inMemory(), loadDataset: { _ in dataset })
        return try await withLiveServer(aggregation) { url in
            let done = DoneFlag()
            return try await withThrowingTaskGroup(of: FederatedRunner.Outcome?.self) { tasks in
                tasks.addTask {
                    defer { done.set() }
                    let runner = FederatedRunner(
                        transport: try HTTPTransport(baseURL: url.absoluteString, token: testOperatorToken),
                        dataset: dataset, workers: 1, observer: observer,
                        remoteTraining: RemoteTraining(leaseSeconds: leaseSeconds, pollMilliseconds: 10))
                    return try await runner.run(configuration: resume == nil ? configuration : nil, resume: resume)
                }
                try await beforeWorkers(url)
                for slot in 0..<workers {
                    tasks.addTask {
                        let worker = ShardWorker(
                            transport: try HTTPTransport(baseURL: url.absoluteString, token: testOperatorToken),
                            name: "test-\(slot)", threads: 1, loadDataset: { _ in dataset })
                        _ = try await worker.run(idleExit: 600, shouldStop: { done.isSet })
                        return nil
                    }
                }
                var outcome: FederatedRunner.Outcome?
                for try await result in tasks where result != nil { outcome = result }
                return try #require(outcome)
            }
        }
    }

    private static func withoutTiming(_ summary: RoundSummary) -> RoundSummary {
        var summary = summary
        summary.serverSeconds = 0
        summary.evaluationSeconds = 0
        return summary
    }

    @Test(
        "The same seed gives the same model and metrics in one process, with 1 worker, with 2, and with a dead worker's shard re-leased"
    )
    func workersMatchOneProcess() async throws {
        let configuration = Self.shardedConfiguration()
        let dataset = try FederatedDataset(configuration: configuration)
        let local = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        let expected = try await FederatedRunner(
            transport: InProcessTransport(server: local), dataset: dataset, workers: 1
        ).run(configuration: configuration)
        #expect(expected.finished && expected.rounds.count == 3)
        let reference = expected.rounds.map { Self.withoutTiming($0.summary) }
        #expect(Set(reference.map(\.modelSHA256)).count == 3, "every round moves the model")
        #expect(reference.allSatisfy { $0.reported == configuration.cohort && !$0.abandoned })

        for workers in [1, 2] {
            let outcome = try await Self.remoteRun(configuration, dataset: dataset, workers: workers)
            #expect(outcome.finished)
            #expect(outcome.rounds.map { Self.withoutTiming($0.summary) } == reference, "\(workers) workers")
        }

        // A worker that leases a shard and dies (never sends): its lease expires after a second,
        // the shard goes to the live worker, and a partial sent late under the dead lease is refused.
        let zombieLease = LeaseBox()
        let outcome = try await Self.remoteRun(configuration, dataset: dataset, workers: 1, leaseSeconds: 1) { url in
            let zombie = try HTTPTransport(baseURL: url.absoluteString, token: testOperatorToken)
            var lease: ShardLease?
            while lease == nil {
                lease = try await zombie.leaseShard(worker: "zombie")
                if lease == nil { try await Task.sleep(for: .milliseconds(5)) }
            }
            zombieLease.set(lease)
        }
        #expect(outcome.rounds.map { Self.withoutTiming($0.summary) } == reference, "a re-leased shard")
        #expect(zombieLease.value != nil, "the zombie held a lease")
    }

    @Test(
        "A coordinator restarted mid-run re-attaches the run from its store, and workers finish it with the uninterrupted run's model"
    )
    func coordinatorRestartResumes() async throws {
        let configuration = Self.shardedConfiguration()
        let dataset = try FederatedDataset(configuration: configuration)
        let local = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        let expected = try await FederatedRunner(
            transport: InProcessTransport(server: local), dataset: dataset, workers: 1
        ).run(configuration: configuration)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "kbd-sim-restart-\(UUID().uuidString).sqlite"
        ).path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        // The first coordinator commits one round, then goes away (its server shuts down).
        let first = try await Self.remoteRun(
            configuration, dataset: dataset, workers: 1, store: try RunStore.open(path: path),
            observer: RoundLimit(1))
        #expect(!first.finished && first.rounds.count == 1)
        // A new coordinator on the same store: the driver resumes the run through it.
        let second = try await Self.remoteRun(
            configuration, dataset: dataset, workers: 2, store: try RunStore.open(path: path),
            resume: first.attachment.runID)
        #expect(second.finished && second.rounds.map(\.round) == [2, 3])
        // Each sharded round's record says who trained it.
        let workers = try RunStore.open(path: path).stageReports(ofRun: first.attachment.runID)
            .filter { $0.stage == "workers" }
        #expect(workers.map(\.round) == [1, 2, 3])
        #expect(workers.allSatisfy { $0.json.contains("\"phones\"") && $0.json.contains("\"releases\"") })
        #expect(
            (first.rounds + second.rounds).map { Self.withoutTiming($0.summary) }
                == expected.rounds.map { Self.withoutTiming($0.summary) })
    }

    @Test(
        "A private sharded run (clip on the workers, central noise once on the coordinator) ends at the one-process model, clip tally and ε",
        arguments: [PrivacyConfiguration.Mechanism.gaussian, .tree])
    func privateRunOnWorkers(mechanism: PrivacyConfiguration.Mechanism) async throws {
        var configuration = Self.shardedConfiguration()
        var privacy = PrivacyConfiguration(noiseMultiplier: 0.8, clipNorm: 0.05)
        privacy.mechanism = mechanism
        if mechanism == .tree {
            privacy.accounting = .tree
            configuration.participation = ParticipationLimits(maximumParticipations: 2, minimumSeparation: 1)
        }
        configuration.privacy = privacy
        let dataset = try FederatedDataset(configuration: configuration)
        let localStore = try RunStore.inMemory()
        let local = AggregationServer(store: localStore, loadDataset: { _ in dataset })
        let expected = try await FederatedRunner(
            transport: InProcessTransport(server: local), dataset: dataset, workers: 1
        ).run(configuration: configuration)
        let remoteStore = try RunStore.inMemory()
        let outcome = try await Self.remoteRun(configuration, dataset: dataset, workers: 2, store: remoteStore)
        #expect(outcome.finished && expected.finished)
        let reference = expected.rounds.map { Self.withoutTiming($0.summary) }
        #expect(outcome.rounds.map { Self.withoutTiming($0.summary) } == reference)
        #expect(reference.allSatisfy { $0.privacy != nil })
        #expect(Set(reference.map(\.modelSHA256)).count == configuration.rounds)

        // The coordinator's clip report counts the workers' updates (carried in KBDP v2).
        func clipReports(_ store: RunStore, _ run: Int64) throws -> [StageReportRecord] {
            try store.stageReports(ofRun: run).filter { $0.stage == "clip" }
        }
        let localClip = try clipReports(localStore, expected.attachment.runID)
        let remoteClip = try clipReports(remoteStore, outcome.attachment.runID)
        #expect(localClip.count == configuration.rounds)
        #expect(localClip.map(\.json) == remoteClip.map(\.json))
        for (record, round) in zip(remoteClip, reference) {
            let payload = try JSONDecoder().decode(ClipStage.Report.self, from: Data(record.json.utf8))
            #expect(payload.updates == round.reported)
            #expect(payload.clipped > 0, "the clip bound is tight enough to clip")
        }
    }

    @Test("A sharded run refuses adaptive clipping, naming the flag")
    func shardedRefusals() throws {
        var adaptive = Self.shardedConfiguration()
        var privacy = PrivacyConfiguration(noiseMultiplier: 2, clipNorm: 0.5)
        privacy.adaptiveQuantile = 0.5
        privacy.adaptiveCountNoise = 5
        adaptive.privacy = privacy
        let refusal = #expect(throws: FederationError.self) { try adaptive.validate() }
        #expect(refusal?.message.contains("--dp-adaptive-quantile") == true, "\(refusal?.message ?? "")")
    }

    @Test("A late partial under an expired lease is refused with 410, and the shard is summed once")
    func latePartialIsRefused() async throws {
        let configuration = Self.shardedConfiguration()
        let dataset = try FederatedDataset(configuration: configuration)
        let aggregation = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        try await withLiveServer(aggregation) { url in
            let round = try await ShardedRound.open(at: url, dataset: dataset, leaseSeconds: 1)
            let late = try #require(try await round.transport.leaseShard(worker: "slow"))
            let latePartial = try await round.partial(for: late)
            try await Task.sleep(for: .milliseconds(1_200))
            // The shard went back to the queue; a live worker takes it and sends it.
            let fresh = try #require(try await round.transport.leaseShard(worker: "live"))
            #expect(fresh.shard.index == late.shard.index && fresh.lease != late.lease)
            #expect(try await round.transport.submitPartial(try await round.partial(for: fresh), for: fresh).accepted)
            let refused = await #expect(throws: HTTPRejection.self) {
                _ = try await round.transport.submitPartial(latePartial, for: late)
            }
            #expect(refused?.status == 410 && refused?.reason == .leaseExpired, "\(refused?.description ?? "")")
            let progress = try await round.transport.shardProgress(run: round.run, round: 1)
            #expect(progress.received == 1 && progress.releases == 1)
            let metrics = try await RawExchange.send("GET", "metrics", to: url, credential: testOperatorToken)
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains("kbdsim_leases_issued_total 2"), "\(text)")
            #expect(text.contains("kbdsim_partials_accepted_total 1"))
            #expect(text.contains("kbdsim_partials_rejected_total{reason=\"lease-expired\"} 1"))
        }
    }

    /// A partial a worker must not get accepted, and the status and reason it gets.
    struct BadPartial: Sendable, CustomTestStringConvertible {
        var name: String
        var status: Int
        var reason: ServerRejection.Reason
        var send: @Sendable (ShardedRound, ShardLease) async throws -> Void
        var testDescription: String { name }
    }

    static let badPartials: [BadPartial] = [
        BadPartial(name: "no credential", status: 401, reason: .unauthenticated) { r, lease in
            var anonymous = lease
            anonymous.credential = ""
            _ = try await r.transport.submitPartial(try await r.partial(for: lease), for: anonymous)
        },
        BadPartial(name: "another lease's credential", status: 403, reason: .forbiddenCredential) { r, lease in
            let other = try #require(try await r.transport.leaseShard(worker: "other"))
            var borrowed = lease
            borrowed.credential = other.credential
            let partial = try await r.partial(for: lease)
            do {
                _ = try await r.transport.submitPartial(partial, for: borrowed)
            } catch {
                try await r.transport.returnLease(other)  // its shard waits again for the round to finish
                throw error
            }
        },
        BadPartial(name: "a forged lease credential", status: 401, reason: .unauthenticated) { r, lease in
            var forged = lease
            forged.credential = lease.credential.replacingOccurrences(
                of: "lse.\(lease.lease).", with: "lse.\(lease.lease + 7).")
            _ = try await r.transport.submitPartial(try await r.partial(for: lease), for: forged)
        },
        BadPartial(name: "a partial naming another shard", status: 400, reason: .badRequest) { r, lease in
            var partial = try PartialAggregate.decode(
                try await r.partial(for: lease), layoutHash: r.layoutHash, parameterCount: r.parameterCount,
                maximumDevices: 10)
            partial.shard = (lease.shard.index + 1) % 3
            _ = try await r.transport.submitPartial(partial.encode(), for: lease)
        },
        BadPartial(name: "a partial for another round", status: 409, reason: .wrongRound) { r, lease in
            var partial = try PartialAggregate.decode(
                try await r.partial(for: lease), layoutHash: r.layoutHash, parameterCount: r.parameterCount,
                maximumDevices: 10)
            partial.round = 2
            _ = try await r.transport.submitPartial(partial.encode(), for: lease)
        },
        BadPartial(name: "a partial with a wrong parameter count", status: 400, reason: .malformedUpdate) { r, lease in
            var partial = try PartialAggregate.decode(
                try await r.partial(for: lease), layoutHash: r.layoutHash, parameterCount: r.parameterCount,
                maximumDevices: 10)
            partial.weightedSum.removeLast()
            _ = try await r.transport.submitPartial(partial.encode(), for: lease)
        },
        BadPartial(name: "a partial that leaves out a phone", status: 400, reason: .badRequest) { r, lease in
            var partial = try PartialAggregate.decode(
                try await r.partial(for: lease), layoutHash: r.layoutHash, parameterCount: r.parameterCount,
                maximumDevices: 10)
            partial.devices.removeLast()
            partial.summed -= 1
            _ = try await r.transport.submitPartial(partial.encode(), for: lease)
        },
        BadPartial(name: "damaged bytes", status: 400, reason: .malformedUpdate) { r, lease in
            var bytes = try await r.partial(for: lease)
            bytes[bytes.count / 2] ^= 0xFF
            _ = try await r.transport.submitPartial(bytes, for: lease)
        },
        BadPartial(name: "a lease the server never issued", status: 403, reason: .forbiddenCredential) { r, lease in
            var unknown = lease
            unknown.lease += 1000
            _ = try await r.transport.submitPartial(try await r.partial(for: lease), for: unknown)
        },
    ]

    @Test(
        "A bad partial is refused with a reason, nothing is summed, and the round still completes",
        arguments: badPartials)
    func badPartialIsRefused(_ bad: BadPartial) async throws {
        let configuration = Self.shardedConfiguration()
        let dataset = try FederatedDataset(configuration: configuration)
        let aggregation = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        try await withLiveServer(aggregation) { url in
            let round = try await ShardedRound.open(at: url, dataset: dataset, leaseSeconds: 600)
            let lease = try #require(try await round.transport.leaseShard(worker: "w"))
            let rejection = await #expect(throws: HTTPRejection.self) { try await bad.send(round, lease) }
            #expect(rejection?.status == bad.status, "\(rejection?.description ?? "accepted")")
            #expect(rejection?.reason == bad.reason, "\(rejection?.description ?? "accepted")")
            #expect(try await round.transport.shardProgress(run: round.run, round: 1).received == 0)

            // The same lease's valid partial is accepted once; a retry is acknowledged, not summed.
            let valid = try await round.partial(for: lease)
            #expect(try await round.transport.submitPartial(valid, for: lease).accepted)
            let retry = try await round.transport.submitPartial(valid, for: lease)
            #expect(!retry.accepted && retry.shardsReceived == 1)
            try await round.completeWithWorker(url: url, dataset: dataset)
        }
    }

    @Test("Without the operator token a worker gets no lease; a sharded run refuses per-update stages")
    func leasesNeedTheTokenAndChainsMustShard() async throws {
        let configuration = Self.shardedConfiguration()
        let dataset = try FederatedDataset(configuration: configuration)
        let aggregation = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        try await withLiveServer(aggregation) { url in
            let round = try await ShardedRound.open(at: url, dataset: dataset, leaseSeconds: 600)
            let stranger = try HTTPTransport(baseURL: url.absoluteString, token: String(repeating: "s", count: 40))
            let refused = await #expect(throws: HTTPRejection.self) { _ = try await stranger.leaseShard(worker: "x") }
            #expect(refused?.status == 401)
            try await round.completeWithWorker(url: url, dataset: dataset)
        }
        var median = configuration
        median.aggregationStages = ["decode", "median", "server-optimizer"]
        #expect(throws: FederationError.self) { try median.validate() }
        var ngram = configuration
        ngram.model = .ngram(order: 3)
        #expect(throws: FederationError.self) { try ngram.validate() }
        var tooLarge = configuration
        tooLarge.shardSize = configuration.cohort + 1
        #expect(throws: FederationError.self) { try tooLarge.validate() }
    }
}

/// Round 1 of a sharded run opened by hand over HTTP: devices 0…7 selected, 0…4 checked in and
/// published as shards [0, 1], [2, 3], [4], for tests to lease and send partials.
struct ShardedRound: Sendable {
    let transport: HTTPTransport
    let run: Int64
    let dataset: FederatedDataset
    let layoutHash: UInt64
    let parameterCount: Int
    let opening: RoundOpening

    static func open(at url: URL, dataset: FederatedDataset, leaseSeconds: Double) async throws -> ShardedRound {
        let transport = try HTTPTransport(baseURL: url.absoluteString, token: testOperatorToken)
        let configuration = ScaleOutTests.shardedConfiguration()
        let attachment = try await transport.createRun(configuration)
        let run = attachment.runID
        let opening = RoundOpening(
            round: 1, selected: Array(0..<8), virtualStart: attachment.virtualTime,
            deadline: attachment.virtualTime + configuration.reportingDeadline)
        try await transport.openRound(run: run, opening)
        var plans: [TrainingPlan] = []
        for d in 0..<5 { plans.append(try await transport.checkIn(run: run, round: 1, device: d)) }
        let shards = [[0, 1], [2, 3], [4]].enumerated().map { i, devices in
            ShardAssignment(index: i, devices: devices, plans: devices.map { plans[$0] })
        }
        try await transport.publishShards(
            run: run,
            ShardPublication(
                round: 1, virtualStart: opening.virtualStart, reportTime: opening.virtualStart + 60, shards: shards,
                leaseSeconds: leaseSeconds))
        guard case .neural(let config) = configuration.model else { preconditionFailure("the tests' runs are neural") }
        let model = try LSTMLanguageModel(config: config)
        return ShardedRound(
            transport: transport, run: run, dataset: dataset, layoutHash: model.layoutHash,
            parameterCount: model.parameters.count, opening: opening)
    }

    /// The valid partial of `lease`'s shard, trained and pre-aggregated as a worker would.
    func partial(for lease: ShardLease) async throws -> [UInt8] {
        let download = try await transport.model(of: lease)
        let results = try ShardTrainer(lease: lease, dataset: dataset, threads: 1).train(download: download)
        let aggregator = try ShardPreAggregator(lease: lease, vocabulary: dataset.vocabulary)
        for r in results { if let u = r.update { try aggregator.add(u, device: r.report.device) } }
        return aggregator.partial(devices: results.map(\.report)).encode()
    }

    /// Lets a worker train the waiting shards, then closes round 1 and checks it committed.
    func completeWithWorker(url: URL, dataset: FederatedDataset) async throws {
        let worker = ShardWorker(
            transport: try HTTPTransport(baseURL: url.absoluteString, token: testOperatorToken), name: "finisher",
            threads: 1, loadDataset: { _ in dataset })
        var progress = try await transport.shardProgress(run: run, round: 1)
        for _ in 0..<200 where !progress.complete {
            if try await worker.processOneShard() == nil { try await Task.sleep(for: .milliseconds(20)) }
            progress = try await transport.shardProgress(run: run, round: 1)
        }
        #expect(progress.complete, "\(progress)")
        let summary = try await transport.closeRound(
            run: run,
            RoundClosing(
                round: 1, virtualStart: opening.virtualStart, virtualEnd: opening.virtualStart + 120,
                selected: opening.selected.count, dropped: 0, stragglers: 0, surplus: 0, bytesDown: 0,
                wallSeconds: 0, trainSeconds: 0))
        #expect(!summary.abandoned && summary.reported == 5 && summary.tokens > 0)
    }
}

/// A flag set once, read from other tasks.
final class DoneFlag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}

/// A lease kept across tasks.
final class LeaseBox: Sendable {
    private let state = Mutex<ShardLease?>(nil)
    func set(_ lease: ShardLease?) { state.withLock { $0 = lease } }
    var value: ShardLease? { state.withLock { $0 } }
}
