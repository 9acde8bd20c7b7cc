import Aggregation
import Federation
import FederationProtocol
import LanguageModels
import UpdateCodec

/// A round of weight deltas: each accepted update runs through the run's aggregation
/// stages (decode → weight → sum → …) into the round's aggregate; the close runs every
/// stage's finish (the server optimizer last) on a copy of the global weights.
///
/// With shards (``RunConfiguration/shardSize``, docs/scale-out.md) each shard's updates are
/// summed into an aggregate of their own, in arrival order, whether they arrive one by one
/// (``receive(_:device:extras:)``, naming their shard) or as a worker's partial aggregate
/// (``receivePartial(_:)``); the close merges the shards' sums in shard order, so the model
/// is the same bits however the shards were computed.
final class NeuralRoundAggregation: RoundAggregation {
    private var global: NeuralGlobalModel
    private var aggregate: RoundAggregate
    private let envelope: RoundEnvelope
    /// Checks headers before the stages run (envelope, example count).
    private let headerReader: UpdateDecoder
    /// The decoded delta of the update in hand, reused for every update of the round.
    private var values: [Float]
    /// Runs with shards: each shard's aggregate so far, by shard index.
    private var shards: [Int: RoundAggregate] = [:]
    /// Shards whose partial came from a worker (no single update of theirs may follow).
    private var fromWorkers: Set<Int> = []
    private let shardCount: Int?

    init(_ global: NeuralGlobalModel, round: Int, envelope: RoundEnvelope) {
        var global = global
        let count = global.weights.count
        aggregate = global.pipeline.beginRound(round, parameterCount: count)
        self.global = global
        self.envelope = envelope
        headerReader = UpdateDecoder(expectedLayoutHash: global.model.layoutHash, expectedParameterCount: count)
        values = [Float](repeating: 0, count: count)
        shardCount = global.shardCount
    }

    func receive(_ bytes: [UInt8], device: UInt32, extras: UploadExtras) throws(ServerRejection) -> Int {
        let header: UpdateHeader
        do {
            header = try headerReader.readHeader(bytes)
        } catch {
            throw ServerRejection(.malformedUpdate, error.description)
        }
        guard header.metadata.exampleCount > 0 else {
            let error = UpdateCodecError(
                code: .invalidField, field: "exampleCount",
                message: "an update must report at least one training example")
            throw ServerRejection(.malformedUpdate, error.description)
        }
        try envelope.check(
            runID: header.metadata.runID, round: Int(header.metadata.round),
            device: Int(exactly: header.metadata.deviceID) ?? -1, sentAs: Int(device))
        var target = aggregate
        var shard: Int?
        if let shardCount {
            guard let s = extras.shard, (0..<shardCount).contains(s) else {
                throw ServerRejection(
                    .badRequest,
                    "this run sums its updates in \(shardCount) shards; an upload must name its shard (0…\(shardCount - 1)) in its extras"
                )
            }
            guard !fromWorkers.contains(s) else {
                throw ServerRejection(
                    .conflictingReplay, "shard \(s) of round \(envelope.round) was already summed by a worker")
            }
            shard = s
            target = shards[s] ?? RoundAggregate(round: envelope.round, parameterCount: values.count)
        }
        let accepted: Result<Void, AggregationError> = values.withUnsafeMutableBufferPointer { values in
            bytes.withUnsafeBytes { message in
                Result { () throws(AggregationError) in
                    var update = ClientUpdate(device: device, message: message, values: values)
                    try global.pipeline.accept(&update, into: &target)
                }
            }
        }
        if case .failure(let error) = accepted { throw ServerRejection(.malformedUpdate, error.message) }
        if let shard { shards[shard] = target } else { aggregate = target }
        return Int(header.metadata.exampleCount)
    }

    func receivePartial(_ partial: PartialAggregate) throws(ServerRejection) {
        guard let shardCount else {
            throw ServerRejection(
                .badRequest, "this run is not sharded (no --shard-size); its phones upload one by one")
        }
        guard partial.run == envelope.runID, partial.round == envelope.round else {
            throw ServerRejection(
                .wrongRound,
                "the partial is for run \(partial.run) round \(partial.round), not run \(envelope.runID) round \(envelope.round)"
            )
        }
        guard (0..<shardCount).contains(partial.shard) else {
            throw ServerRejection(
                .badRequest, "shard \(partial.shard) is outside the round's shards 0…\(shardCount - 1)")
        }
        guard shards[partial.shard] == nil else {
            throw ServerRejection(
                .conflictingReplay, "shard \(partial.shard) of round \(envelope.round) is already summed")
        }
        guard partial.weightedSum.count == values.count, partial.totalWeight.isFinite, partial.totalWeight >= 0 else {
            throw ServerRejection(
                .malformedUpdate,
                "the partial has \(partial.weightedSum.count) parameters, the run's model \(values.count)")
        }
        var shard = RoundAggregate(round: envelope.round, parameterCount: 0)
        shard.sum = WeightedSum(
            weightedSum: partial.weightedSum, totalWeight: partial.totalWeight, count: partial.summed)
        shard.discarded = partial.discarded
        shard.weightBound = partial.weightBound
        shard.clipCounts = ClipCounts(
            updates: partial.clipUpdates, clipped: partial.clipped, unclipped: partial.withinClip)
        shards[partial.shard] = shard
        fromWorkers.insert(partial.shard)
    }

    func partialAggregate(run: Int64, shard: Int, lease: Int64, devices: [ShardDeviceReport]) -> PartialAggregate? {
        var partial = PartialAggregate(
            run: run, round: envelope.round, shard: shard, lease: lease, layoutHash: global.model.layoutHash,
            weightedSum: Array(aggregate.sum.weightedSum), totalWeight: aggregate.sum.totalWeight,
            summed: aggregate.sum.count, discarded: aggregate.discarded, weightBound: aggregate.weightBound,
            devices: devices)
        let counts = aggregate.clipCounts
        (partial.clipUpdates, partial.clipped, partial.withinClip) = (counts.updates, counts.clipped, counts.unclipped)
        return partial
    }

    var secureAggregationLength: Int? { values.count }

    func receiveQuantizedSum(_ sum: [UInt32], contributors: Int, grid: SecureAggregationGrid) throws(ServerRejection) {
        guard sum.count == values.count, contributors >= 1, aggregate.sum.count == 0 else {
            throw ServerRejection(
                .badRequest,
                "a secure sum of \(sum.count) coordinates over \(contributors) phones does not fit this round (\(values.count) parameters, \(aggregate.sum.count) updates already summed)"
            )
        }
        let quantizer = grid.quantizer
        values.withUnsafeMutableBufferPointer { out in
            sum.withUnsafeBufferPointer { quantizer.dequantizeSum($0, contributors: contributors, into: out) }
        }
        values.withUnsafeBufferPointer {
            aggregate.sum.addPartialSum($0, totalWeight: Double(contributors), count: contributors)
        }
    }

    func receiveSignedSum(_ sum: [UInt32], contributors: Int, ringBits: Int, scale: Double) throws(ServerRejection) {
        guard sum.count == values.count, contributors >= 1, aggregate.sum.count == 0, (2...32).contains(ringBits),
            scale > 0, scale.isFinite
        else {
            throw ServerRejection(
                .badRequest,
                "a signed secure sum of \(sum.count) coordinates over \(contributors) phones (ring \(ringBits) bits, γ = \(scale)) does not fit this round (\(values.count) parameters, \(aggregate.sum.count) updates already summed)"
            )
        }
        // Σx = S / γ with S the sum modulo 2^m read in [−2^(m−1), 2^(m−1)); the chain's finish
        // divides by the total weight, the contributors.
        let mask: UInt64 = (1 << UInt64(ringBits)) - 1
        let half: UInt64 = 1 << UInt64(ringBits - 1)
        let modulus = Double(UInt64(1) << UInt64(ringBits))
        let inverse = 1 / scale
        values.withUnsafeMutableBufferPointer { out in
            sum.withUnsafeBufferPointer { s in
                for i in 0..<out.count {
                    let w = UInt64(s[i]) & mask
                    let signed = w >= half ? Double(w) - modulus : Double(w)
                    out[i] = Float(signed * inverse)
                }
            }
        }
        values.withUnsafeBufferPointer {
            aggregate.sum.addPartialSum($0, totalWeight: Double(contributors), count: contributors)
        }
    }

    func close() throws -> (model: any GlobalModel, reports: [StageReport]) {
        // Shards merge in shard order, each into the round's (empty) aggregate.
        for index in shards.keys.sorted() {
            let shard = shards[index]!
            aggregate.sum.merge(shard.sum)
            aggregate.discarded += shard.discarded
            aggregate.clipCounts += shard.clipCounts
            if aggregate.weightBound == nil { aggregate.weightBound = shard.weightBound }
        }
        shards = [:]
        // The weights leave `global` while the pipeline (also in `global`) changes them.
        var weights = global.weights
        global.weights = []
        try global.pipeline.finish(&aggregate, weights: &weights)
        global.weights = weights
        return (global, aggregate.reports)
    }
}
