public import Federation
public import FederationProtocol
import Foundation
import KeyboardCorpus

/// How a runner trains on workers (``FederatedRunner/remoteTraining``).
public struct RemoteTraining: Sendable {
    /// Wall seconds a worker holds a shard before it goes to another worker.
    public var leaseSeconds: Double
    /// How often the runner asks the server how far the workers are.
    public var pollMilliseconds: Int
    /// Called with each progress the runner sees (for a progress line).
    public var onProgress: (@Sendable (ShardProgress) -> Void)?

    public init(
        leaseSeconds: Double = 600, pollMilliseconds: Int = 100, onProgress: (@Sendable (ShardProgress) -> Void)? = nil
    ) {
        self.leaseSeconds = leaseSeconds
        self.pollMilliseconds = pollMilliseconds
        self.onProgress = onProgress
    }
}

/// A worker's training of one leased shard (docs/scale-out.md): the shard's phones, with
/// their text this round, train on the downloaded model and encode their updates exactly as
/// the fleet of a one-process run would (the same seeds, by run, round and device).
public struct ShardTrainer {
    /// One phone's result: its accounting, and its encoded update if it has one.
    public struct Result: Sendable {
        public var report: ShardDeviceReport
        public var update: [UInt8]?
    }

    private let lease: ShardLease
    private let dataset: FederatedDataset
    private let threads: Int

    /// A trainer for `lease`, over the run's text (`dataset`, loaded from the lease's
    /// configuration), on `threads` threads.
    public init(lease: ShardLease, dataset: FederatedDataset, threads: Int) {
        self.lease = lease
        self.dataset = dataset
        self.threads = max(1, threads)
    }

    /// Trains the shard's phones on `download` (the round's model) and returns their results
    /// in the shard's order.
    ///
    /// - Throws: ``FederationError`` if the run's fleet or device model cannot be built or the
    ///   download does not fit it.
    public func train(download: [UInt8]) throws -> [Result] {
        let c = lease.configuration
        let population = try FederatedRunner.population(for: c)
        let device = try c.makeDeviceModel(
            vocabularyCount: dataset.vocabulary.count,
            attack: DeviceAttack(
                configuration: c, backdoor: try Backdoor(configuration: c, vocabulary: dataset.vocabulary)))
        let text = RoundText(
            dataset: dataset, population: population, start: lease.virtualStart, round: lease.round, seed: c.seed,
            limit: device.messageLimit)
        let shard = lease.shard
        guard let plan = shard.plans.first else { return [] }
        let work = try device.prepareRound(download: download)
        let jobs = zip(shard.devices, shard.plans).map { d, p in device.job(device: d, plan: p, text: text) }
        let reports = CohortTrainer(workers: threads).run(jobs, work: work, plan: plan, runSeed: c.seed)
        return zip(shard.devices, reports).map { d, report in
            switch report {
            case .success(let r):
                Result(
                    report: ShardDeviceReport(
                        device: d, reported: true, bytes: r.bytes.count, tokens: r.tokens, evaluation: r.evaluation,
                        trainSeconds: r.trainSeconds),
                    update: r.bytes)
            case .failure:
                Result(
                    report: ShardDeviceReport(
                        device: d, reported: false, bytes: 0, tokens: 0, evaluation: nil, trainSeconds: 0),
                    update: nil)
            }
        }
    }
}
