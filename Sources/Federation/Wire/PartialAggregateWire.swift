import FederatedCore
public import FederationProtocol
import Foundation

/// One shard's partial aggregate, as a worker uploads it (`KBDP`): the weighted sum of its
/// phones' decoded updates, the weights' total, and what each phone did.
///
///     "KBDP", version u16 (2), reserved u16, run i64, round u32, shard u32, lease i64,
///     layout hash u64, parameter count u32, summed u32, discarded u32, clip: updates u32,
///     clipped u32, within the bound u32 (version 2 only), total weight f64 bits,
///     has weight bound u8, weight bound f32 bits, device JSON length u32, device JSON
///     ([ShardDeviceReport], sorted keys), weighted sum f32…, CRC-32
///
/// Version 1 (without the clip tally) still decodes, with a zero tally.
///
/// The sum is float32 exactly as the worker's ``Aggregation/WeightedSum`` held it, so the
/// coordinator merges the same bits a one-process run would have summed.
public struct PartialAggregate: Sendable, Equatable {
    public var run: Int64
    public var round: Int
    public var shard: Int
    public var lease: Int64
    public var layoutHash: UInt64
    /// Σ weight · delta over the shard's summed updates, in the shard's order.
    public var weightedSum: [Float]
    /// Σ weight.
    public var totalWeight: Double
    /// Updates added to the sum.
    public var summed: Int
    /// Updates a stage left out of the sum.
    public var discarded: Int
    /// The largest weight an update could carry (a bounded weight rule), or nil.
    public var weightBound: Float?
    /// Each phone of the shard, in its order.
    public var devices: [ShardDeviceReport]
    /// The clip stage's tally on the worker (runs with `--dp-clip`): updates it saw, updates
    /// it scaled down, updates within the bound (all 0 without a clip stage).
    public var clipUpdates = 0
    public var clipped = 0
    public var withinClip = 0

    public init(
        run: Int64, round: Int, shard: Int, lease: Int64, layoutHash: UInt64, weightedSum: [Float], totalWeight: Double,
        summed: Int, discarded: Int, weightBound: Float?, devices: [ShardDeviceReport]
    ) {
        self.run = run
        self.round = round
        self.shard = shard
        self.lease = lease
        self.layoutHash = layoutHash
        self.weightedSum = weightedSum
        self.totalWeight = totalWeight
        self.summed = summed
        self.discarded = discarded
        self.weightBound = weightBound
        self.devices = devices
    }

    static let magic: [UInt8] = Array("KBDP".utf8)
    static let what = "partial aggregate"

    /// The wire bytes.
    public func encode() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain value types with finite numbers cannot fail.
        let json = (try? encoder.encode(devices)).map(Array.init) ?? Array("[]".utf8)
        var w = FrameWriter(capacity: 80 + json.count + 4 * weightedSum.count)
        w.append(Self.magic)
        w.u16(2)
        w.u16(0)
        w.i64(run)
        w.u32(UInt32(round))
        w.u32(UInt32(shard))
        w.i64(lease)
        w.u64(layoutHash)
        w.u32(UInt32(weightedSum.count))
        w.u32(UInt32(summed))
        w.u32(UInt32(discarded))
        w.u32(UInt32(clipUpdates))
        w.u32(UInt32(clipped))
        w.u32(UInt32(withinClip))
        w.u64(totalWeight.bitPattern)
        w.u8(weightBound == nil ? 0 : 1)
        w.u32((weightBound ?? 0).bitPattern)
        w.u32(UInt32(json.count))
        w.append(json)
        w.floats(weightedSum)
        w.sealWithCRC()
        return w.bytes
    }

    /// Decodes and checks a partial: its CRC, that it has `parameterCount` finite values for
    /// `layoutHash`, at most `maximumDevices` phones, and consistent counts.
    public static func decode(
        _ bytes: [UInt8], layoutHash expectedLayout: UInt64, parameterCount: Int, maximumDevices: Int
    )
        throws(FederationError) -> PartialAggregate
    {
        try FrameReader.verifyCRC(bytes, what: what)
        var r = FrameReader(Array(bytes.dropLast(4)), what: what)
        guard try r.raw(4) == magic else {
            throw FederationError(.protocolViolation, "\(what): bad magic (not a KBDP partial aggregate)")
        }
        let version = try r.u16()
        guard version == 1 || version == 2 else {
            throw FederationError(
                .protocolViolation, "\(what): unsupported version \(version) (this kbd-sim reads 1 and 2)")
        }
        _ = try r.u16()
        let run = try r.i64()
        let round = Int(try r.u32())
        let shard = Int(try r.u32())
        let lease = try r.i64()
        let layoutHash = try r.u64()
        guard layoutHash == expectedLayout else {
            throw FederationError(.protocolViolation, "\(what): the model's layout does not match the run's")
        }
        let count = Int(try r.u32())
        guard count == parameterCount else {
            throw FederationError(
                .protocolViolation, "\(what): \(count) parameters, the run's model has \(parameterCount)")
        }
        let summed = Int(try r.u32())
        let discarded = Int(try r.u32())
        var clip = (updates: 0, clipped: 0, within: 0)
        if version >= 2 { clip = (Int(try r.u32()), Int(try r.u32()), Int(try r.u32())) }
        guard clip.clipped <= clip.updates, clip.within <= clip.updates, clip.updates <= summed + discarded else {
            throw FederationError(
                .protocolViolation,
                "\(what): its clip tally (\(clip.clipped) and \(clip.within) of \(clip.updates)) does not fit its \(summed + discarded) updates"
            )
        }
        let totalWeight = Double(bitPattern: try r.u64())
        let hasBound = try r.u8()
        let bound = Float(bitPattern: try r.u32())
        guard totalWeight.isFinite, totalWeight >= 0, hasBound <= 1, bound.isFinite else {
            throw FederationError(.protocolViolation, "\(what): its total weight or weight bound is not a valid number")
        }
        let jsonLength = Int(try r.u32())
        guard jsonLength <= r.remaining else {
            throw FederationError(.protocolViolation, "\(what): its device list is truncated")
        }
        let devices: [ShardDeviceReport]
        do {
            devices = try JSONDecoder().decode([ShardDeviceReport].self, from: Data(try r.raw(jsonLength)))
        } catch let error as FederationError {
            throw error
        } catch {
            throw FederationError(.protocolViolation, "\(what): its device list is not JSON of ShardDeviceReport")
        }
        guard devices.count <= maximumDevices else {
            throw FederationError(
                .protocolViolation, "\(what): \(devices.count) devices, more than a shard's \(maximumDevices)")
        }
        guard summed + discarded == devices.count(where: \.reported) else {
            throw FederationError(
                .protocolViolation,
                "\(what): \(summed) summed and \(discarded) discarded updates, but \(devices.count(where: \.reported)) phones reported"
            )
        }
        let values = try r.floats(count)
        guard r.remaining == 0 else {
            throw FederationError(.protocolViolation, "\(what): \(r.remaining) trailing bytes")
        }
        var partial = PartialAggregate(
            run: run, round: round, shard: shard, lease: lease, layoutHash: layoutHash, weightedSum: values,
            totalWeight: totalWeight, summed: summed, discarded: discarded, weightBound: hasBound == 1 ? bound : nil,
            devices: devices)
        (partial.clipUpdates, partial.clipped, partial.withinClip) = clip
        return partial
    }
}
