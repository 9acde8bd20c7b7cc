public import Federation
public import FederationFleet
public import FederationProtocol
import FederationServer
public import Foundation
import KeyboardCorpus
import Synchronization

/// `kbd-sim worker` (docs/scale-out.md): a stateless process that leases shards of open
/// rounds from the coordinator, trains each shard's phones, pre-aggregates their updates
/// (each encoded by its phone and decoded here, so every codec effect stays per phone) and
/// uploads one partial aggregate per shard.
///
/// A worker keeps nothing between shards but the last run's text (reloaded when a lease
/// names another run). If it dies, its lease expires on the coordinator and the shard goes to
/// another worker; a partial sent under an expired lease is refused, so nothing is counted twice.
public final class ShardWorker: Sendable {
    /// What one worker did.
    public struct Summary: Sendable, Equatable {
        public var shards = 0
        public var phones = 0
        public var tokens = 0
        public var trainSeconds = 0.0
        /// Partials the coordinator refused (a lease that expired meanwhile).
        public var refused = 0
    }

    public let transport: HTTPTransport
    /// The worker's name in the coordinator's metrics and logs.
    public let name: String
    private let threads: Int
    private let loadDataset: @Sendable (RunConfiguration) throws -> FederatedDataset
    private let cache = DatasetCache()

    /// A worker leasing from `transport`'s server as `name`, training on `threads` threads.
    public init(
        transport: HTTPTransport, name: String, threads: Int,
        loadDataset: @escaping @Sendable (RunConfiguration) throws -> FederatedDataset = {
            try FederatedDataset(configuration: $0)
        }
    ) {
        self.transport = transport
        self.name = name
        self.threads = max(1, threads)
        self.loadDataset = loadDataset
    }

    /// Leases and completes one shard; nil when no shard waits.
    ///
    /// - Throws: transport failures and refusals other than an expired lease (which counts
    ///   in ``Summary/refused``), and failures to build the run's models from its configuration.
    public func processOneShard() async throws -> Summary? {
        guard let lease = try await transport.leaseShard(worker: name) else { return nil }
        let dataset = try cache.dataset(for: lease.configuration, load: loadDataset)
        // One download per round: the shard's phones all train on the round's model.
        let download: [UInt8]
        if let cached = cache.model(run: lease.run, round: lease.round) {
            download = cached
        } else {
            download = try await transport.model(of: lease)
            cache.keep(model: download, run: lease.run, round: lease.round)
        }
        let results = try ShardTrainer(lease: lease, dataset: dataset, threads: threads).train(download: download)
        let aggregator = try ShardPreAggregator(lease: lease, vocabulary: dataset.vocabulary)
        for result in results {
            if let update = result.update { try aggregator.add(update, device: result.report.device) }
        }
        let reports = results.map(\.report)
        var summary = Summary(
            shards: 1, phones: reports.count, tokens: reports.reduce(0) { $0 + $1.tokens },
            trainSeconds: reports.reduce(0) { $0 + $1.trainSeconds })
        do {
            _ = try await transport.submitPartial(aggregator.partial(devices: reports).encode(), for: lease)
        } catch let rejection as HTTPRejection where rejection.reason == .leaseExpired {
            summary = Summary(refused: 1)
        }
        return summary
    }

    /// Works until `shouldStop()` says so (checked between shards: a shard in hand is
    /// finished first) or no shard has waited for `idleExit` seconds. A coordinator that
    /// cannot be reached (restarting) is waited for, up to the same limit.
    public func run(idleExit: Double, shouldStop: @Sendable () -> Bool, onShard: @Sendable (Summary) -> Void = { _ in })
        async throws -> Summary
    {
        var total = Summary()
        var idleSince = Date()
        while !shouldStop() {
            let shard: Summary?
            do {
                shard = try await processOneShard()
            } catch let error as FederationError where error.code == .transportFailure {
                // The coordinator is down or restarting: wait for it, up to the idle limit.
                if Date().timeIntervalSince(idleSince) >= idleExit { throw error }
                try await Task.sleep(for: .seconds(1))
                continue
            }
            if let done = shard {
                total.shards += done.shards
                total.phones += done.phones
                total.tokens += done.tokens
                total.trainSeconds += done.trainSeconds
                total.refused += done.refused
                onShard(total)
                idleSince = Date()
            } else {
                if Date().timeIntervalSince(idleSince) >= idleExit { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        return total
    }
}

/// The last run's text, kept while leases keep naming the same run configuration, and the
/// last round's model download.
private final class DatasetCache: Sendable {
    private let state = Mutex<(key: String, dataset: FederatedDataset)?>(nil)
    private let download = Mutex<(run: Int64, round: Int, bytes: [UInt8])?>(nil)

    func model(run: Int64, round: Int) -> [UInt8]? {
        download.withLock { $0.flatMap { $0.run == run && $0.round == round ? $0.bytes : nil } }
    }

    func keep(model bytes: [UInt8], run: Int64, round: Int) {
        download.withLock { $0 = (run, round, bytes) }
    }

    func dataset(for c: RunConfiguration, load: (RunConfiguration) throws -> FederatedDataset) throws
        -> FederatedDataset
    {
        let key = c.encodedJSON()
        if let hit = state.withLock({ $0?.key == key ? $0?.dataset : nil }) { return hit }
        let dataset = try load(c)
        state.withLock { $0 = (key, dataset) }
        return dataset
    }
}
