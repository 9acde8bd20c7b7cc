import Aggregation
import Federation
import FederationProtocol
import KeyboardCorpus
import LanguageModels

/// A round of n-gram counts: each accepted device's counts are kept, and at the close they
/// are summed pairwise (O(total · log cohort)) into the global counts.
final class NGramRoundAggregation: RoundAggregation {
    private var global: NGramGlobalModel
    private let envelope: RoundEnvelope
    private var countUpdates: [NGramCounts] = []
    private var contributions: [(UInt32, Int32)] = []

    func receivePartial(_ partial: PartialAggregate) throws(ServerRejection) {
        throw ServerRejection(.badRequest, "n-gram runs are not sharded: their counts are uploaded per device")
    }

    func partialAggregate(run: Int64, shard: Int, lease: Int64, devices: [ShardDeviceReport]) -> PartialAggregate? {
        nil
    }

    init(_ global: NGramGlobalModel, envelope: RoundEnvelope) {
        self.global = global
        self.envelope = envelope
    }

    func receive(_ bytes: [UInt8], device: UInt32, extras: UploadExtras) throws(ServerRejection) -> Int {
        let decoded: (NGramUpdateWire.Envelope, NGramCounts)
        do {
            decoded = try NGramUpdateWire.decode(
                bytes, expectedOrder: global.order, vocabularyCount: global.vocabulary.count)
        } catch {
            throw ServerRejection(.malformedUpdate, error.message)
        }
        try envelope.check(
            runID: decoded.0.runID, round: decoded.0.round, device: decoded.0.device, sentAs: Int(device))
        var day: Int32?
        if let through = extras.textThroughDay {
            guard let day32 = Int32(exactly: through) else {
                throw ServerRejection(.badRequest, "text-through day \(through) is out of range")
            }
            day = day32
        }
        if !decoded.1.isEmpty { countUpdates.append(decoded.1) }
        if let day { contributions.append((device, day)) }
        return decoded.0.exampleCount
    }

    func close() throws -> (model: any GlobalModel, reports: [StageReport]) {
        var level = countUpdates
        while level.count > 1 {
            var next: [NGramCounts] = []
            for i in stride(from: 0, to: level.count, by: 2) {
                var a = level[i]
                if i + 1 < level.count { a.merge(level[i + 1]) }
                next.append(a)
            }
            level = next
        }
        if let sum = level.first { global.counts.merge(sum) }
        for (device, day) in contributions { global.contributedThroughDay[device] = day }
        return (global, [])
    }
}
