public import Federation
public import FederationProtocol
public import KeyboardCorpus

/// A worker's intermediate aggregator (docs/scale-out.md): one shard's encoded updates, each
/// decoded and weighted by the run's own stages and summed in the shard's order, exactly as
/// the coordinator would have summed them one by one; its result is the shard's
/// ``PartialAggregate``.
///
/// Every codec effect stays per phone: each update is encoded by its phone and decoded here,
/// and only the sum leaves the worker.
public final class ShardPreAggregator {
    private let aggregation: any RoundAggregation
    private let run: Int64
    private let lease: ShardLease

    /// An aggregator for `lease`'s shard, with the run's stages built from its configuration.
    ///
    /// - Throws: ``FederationError`` if the configuration is not one a worker can aggregate
    ///   (it has no shards, or a model kind that is not sharded).
    public init(lease: ShardLease, vocabulary: Vocabulary) throws {
        var configuration = lease.configuration
        guard configuration.shardSize != nil, case .neural = configuration.model else {
            throw FederationError(
                .invalidConfiguration, "run \(lease.run) is not a sharded neural run; a worker cannot aggregate it")
        }
        // The shard is aggregated as a round of its own: one sum, no shards inside it.
        configuration.shardSize = nil
        let global = try configuration.makeGlobalModel(vocabulary: vocabulary)
        aggregation = global.openRound(lease.round, envelope: RoundEnvelope(runID: lease.run, round: lease.round))
        run = lease.run
        self.lease = lease
    }

    /// Decodes, weights and adds one phone's update (its bytes as encoded on the phone).
    ///
    /// - Throws: ``ServerRejection`` if the update does not decode for this round.
    public func add(_ bytes: [UInt8], device: Int) throws(ServerRejection) {
        _ = try aggregation.receive(bytes, device: UInt32(device), extras: UploadExtras(virtualTime: lease.reportTime))
    }

    /// The shard's partial aggregate, with `devices` as its accounting.
    public func partial(devices: [ShardDeviceReport]) -> PartialAggregate {
        // Only neural rounds are sharded (checked at init), and they always have a partial.
        aggregation.partialAggregate(run: run, shard: lease.shard.index, lease: lease.lease, devices: devices)!
    }
}
