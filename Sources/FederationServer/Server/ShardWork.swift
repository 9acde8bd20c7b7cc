import FederationProtocol
import Foundation

/// An open round's training as shards for workers (docs/scale-out.md): which shards wait,
/// which are leased to whom until when, and which partials arrived.
///
/// A shard is leased to one worker at a time. A lease that passes its deadline (the worker
/// died, hangs, or is slow) puts the shard back at the front of the queue, and a partial sent
/// under the expired lease is refused, so no shard is summed twice and no phone counted twice.
struct ShardWork {
    let publication: ShardPublication
    /// Shards not leased and not received, in the order they go out.
    private(set) var waiting: [Int]
    /// Live leases: lease id → shard and expiry.
    private(set) var leases: [Int64: (shard: Int, worker: String, leased: Date, expires: Date)] = [:]
    /// Leases whose partial was accepted (a retry of one is acknowledged, not summed again).
    private(set) var accepted: Set<Int64> = []
    /// Each received shard's phones, by shard (accounted in shard order at the close).
    private(set) var received: [Int: [ShardDeviceReport]] = [:]
    private(set) var releases = 0
    /// Per worker name: shards delivered, phones and tokens, and their training seconds.
    private(set) var throughput: [String: WorkerThroughput] = [:]

    init(_ publication: ShardPublication) {
        self.publication = publication
        waiting = publication.shards.map(\.index)
    }

    var isComplete: Bool { received.count == publication.shards.count }

    /// Puts the shards of expired leases back at the front of the queue.
    mutating func expireLeases(now: Date) {
        let expired = leases.filter { $0.value.expires <= now }.sorted { $0.value.shard < $1.value.shard }
        for (lease, held) in expired.reversed() {
            leases[lease] = nil
            waiting.insert(held.shard, at: 0)
            releases += 1
        }
    }

    /// Leases the next waiting shard to `worker` as `lease`, or nil if none waits.
    mutating func lease(_ lease: Int64, to worker: String, now: Date) -> ShardAssignment? {
        expireLeases(now: now)
        guard !waiting.isEmpty else { return nil }
        let shard = waiting.removeFirst()
        leases[lease] = (shard, worker, now, now.addingTimeInterval(publication.leaseSeconds))
        return publication.shards[shard]
    }

    /// Gives a lease back before its deadline (a worker stopping): its shard waits again.
    mutating func giveBack(_ lease: Int64) {
        guard let held = leases.removeValue(forKey: lease) else { return }
        waiting.insert(held.shard, at: 0)
        releases += 1
    }

    /// What a partial under `lease` may do: nil if it is the lease's first (go on), else the
    /// receipt of an idempotent retry; throws if the lease is not live.
    func check(_ lease: Int64, shard: Int, now: Date) throws(ServerRejection) -> PartialReceipt? {
        if accepted.contains(lease) { return PartialReceipt(accepted: false, shardsReceived: received.count) }
        guard let held = leases[lease] else {
            throw ServerRejection(
                .leaseExpired,
                "lease \(lease) is not live: it expired and its shard was leased again, or it was never issued; lease again"
            )
        }
        guard held.expires > now else {
            throw ServerRejection(
                .leaseExpired, "lease \(lease) expired before its partial arrived; its shard goes to another worker")
        }
        guard held.shard == shard else {
            throw ServerRejection(
                .badRequest, "lease \(lease) is for shard \(held.shard); the partial says shard \(shard)")
        }
        return nil
    }

    /// Records the accepted partial of `lease` (`bytes` long, arrived at `now`).
    mutating func record(_ lease: Int64, devices: [ShardDeviceReport], bytes: Int, now: Date) {
        guard let held = leases.removeValue(forKey: lease) else { return }
        accepted.insert(lease)
        received[held.shard] = devices
        var t = throughput[held.worker] ?? WorkerThroughput()
        t.shards += 1
        t.phones += devices.count
        t.tokens += devices.reduce(0) { $0 + $1.tokens }
        t.trainSeconds += devices.reduce(0) { $0 + $1.trainSeconds }
        t.leaseSeconds += max(0, now.timeIntervalSince(held.leased))
        t.partialBytes += bytes
        throughput[held.worker] = t
    }

    func progress(round: Int) -> ShardProgress {
        let failed = received.values.flatMap { $0.filter { !$0.reported }.map(\.device) }.sorted()
        return ShardProgress(
            round: round, shards: publication.shards.count, received: received.count, leased: leases.count,
            releases: releases, failedDevices: failed,
            trainSeconds: received.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.trainSeconds } })
    }
}

/// What one worker delivered (for `/metrics` and the run's record).
public struct WorkerThroughput: Sendable, Equatable, Codable {
    public var shards = 0
    public var phones = 0
    public var tokens = 0
    public var trainSeconds = 0.0
    /// Wall seconds from each lease to its accepted partial, summed (the worker's time on its
    /// shards: model download, training, encoding, pre-aggregation, upload).
    public var leaseSeconds = 0.0
    /// Bytes of its accepted partials (its share of the coordinator's ingress).
    public var partialBytes = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case shards, phones, tokens, trainSeconds, leaseSeconds, partialBytes
    }

    /// Decodes stored figures; reports stored before the lease time and bytes were kept read
    /// them as 0.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        shards = try c.decode(Int.self, forKey: .shards)
        phones = try c.decode(Int.self, forKey: .phones)
        tokens = try c.decode(Int.self, forKey: .tokens)
        trainSeconds = try c.decode(Double.self, forKey: .trainSeconds)
        leaseSeconds = try c.decodeIfPresent(Double.self, forKey: .leaseSeconds) ?? 0
        partialBytes = try c.decodeIfPresent(Int.self, forKey: .partialBytes) ?? 0
    }

    /// Adds another round's figures.
    public static func += (a: inout WorkerThroughput, b: WorkerThroughput) {
        a.shards += b.shards
        a.phones += b.phones
        a.tokens += b.tokens
        a.trainSeconds += b.trainSeconds
        a.leaseSeconds += b.leaseSeconds
        a.partialBytes += b.partialBytes
    }
}
