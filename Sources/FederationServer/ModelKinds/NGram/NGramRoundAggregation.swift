import Aggregation
import FederatedCore
import Federation
import FederationProtocol
import KeyboardCorpus
import LanguageModels

/// A round of n-gram counts: each accepted device's counts are kept, and at the close they
/// are summed pairwise (O(total · log cohort)) into the global counts.
///
/// With differentially private counts (``CountPrivacy``) every upload is first cut to the
/// contribution bound (the phone does it itself; the server enforces it, so the sensitivity
/// holds whatever a phone sends), and the round's sum is released through the Gaussian sparse
/// histogram mechanism before it joins the global counts.
final class NGramRoundAggregation: RoundAggregation {
    private var global: NGramGlobalModel
    private let round: Int
    private let envelope: RoundEnvelope
    private var countUpdates: [NGramCounts] = []
    private var contributions: [(UInt32, Int32)] = []
    private var boundedByServer = 0

    func receivePartial(_ partial: PartialAggregate) throws(ServerRejection) {
        throw ServerRejection(.badRequest, "n-gram runs are not sharded: their counts are uploaded per device")
    }

    func partialAggregate(run: Int64, shard: Int, lease: Int64, devices: [ShardDeviceReport]) -> PartialAggregate? {
        nil
    }

    init(_ global: NGramGlobalModel, round: Int, envelope: RoundEnvelope) {
        self.global = global
        self.round = round
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
        var counts = decoded.1
        if let privacy = global.privacy {
            let (bounded, effect) = counts.bounded(by: privacy.bound)
            if effect.changed { boundedByServer += 1 }
            counts = bounded
        }
        if !counts.isEmpty { countUpdates.append(counts) }
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
        var reports: [StageReport] = []
        var sum = level.first ?? NGramCounts(order: global.order)
        if let privacy = global.privacy {
            var rng = SplitMix64(seed: global.seed, streams: 0xC0DE, UInt64(round))
            let (released, effect) = sum.noisyRelease(
                standardDeviation: privacy.standardDeviation, threshold: privacy.threshold, rng: &rng)
            sum = released
            reports.append(
                StageReport(
                    stage: "count-noise",
                    payload: CountPrivacy.Report(
                        noiseMultiplier: privacy.noiseMultiplier, sensitivity: privacy.sensitivity,
                        noiseStandardDeviation: privacy.standardDeviation, threshold: privacy.threshold,
                        maximumNGramsPerOrder: privacy.bound.maximumPerOrder,
                        maximumCount: privacy.bound.maximumCount, uploadsBoundedByServer: boundedByServer,
                        summedNGrams: effect.summedNGrams, releasedNGrams: effect.releasedNGrams)))
        }
        if !sum.isEmpty { global.counts.merge(sum) }
        for (device, day) in contributions { global.contributedThroughDay[device] = day }
        return (global, reports)
    }
}
