import Federation
public import FederationProtocol
public import Foundation

// Scale-out (docs/scale-out.md): the fleet driver publishes an open round's training as
// shards; workers lease them, train their phones, and send one partial aggregate per shard;
// the driver closes the round once every shard is in.

extension AggregationServer {
    /// Publishes the open round's training as shards for workers.
    ///
    /// The shards must hold the round's reporting phones in arrival order, in consecutive
    /// shards of the run's `shardSize` (the last may be shorter), each phone selected and
    /// listed once. Publishing the same shards again is a no-op (a retry).
    public func publishShards(run id: Int64, _ publication: ShardPublication) throws(ServerRejection) {
        let run = try active(id)
        try run.withLock { () throws(ServerRejection) in
            let open = try run.requireOpen(round: publication.round)
            guard let size = run.configuration.shardSize else {
                throw ServerRejection(
                    .badRequest,
                    "run \(id) has no --shard-size: its phones are trained by the fleet and upload one by one")
            }
            if let work = open.shardWork {
                guard work.publication == publication else {
                    throw ServerRejection(.conflictingReplay, "round \(publication.round) already has other shards")
                }
                return
            }
            guard publication.leaseSeconds.isFinite, (1...86_400).contains(publication.leaseSeconds) else {
                throw ServerRejection(.badRequest, "a lease lasts 1…86400 seconds (got \(publication.leaseSeconds))")
            }
            guard !publication.shards.isEmpty, open.order.isEmpty else {
                throw ServerRejection(
                    .badRequest, "shards need at least one shard, in a round that has no single uploads yet")
            }
            var seen = Set<Int>()
            for (i, shard) in publication.shards.enumerated() {
                let last = i == publication.shards.count - 1
                guard shard.index == i, shard.devices.count == shard.plans.count,
                    last ? (1...size).contains(shard.devices.count) : shard.devices.count == size
                else {
                    throw ServerRejection(
                        .badRequest,
                        "shard \(i) must be index \(i) with \(last ? "1…\(size)" : "\(size)") phones and one plan each (--shard-size \(size))"
                    )
                }
                for (d, plan) in zip(shard.devices, shard.plans) {
                    guard d >= 0, d <= Int(UInt32.max), open.selected.contains(UInt32(d)), seen.insert(d).inserted,
                        plan.runID == id, plan.round == publication.round
                    else {
                        throw ServerRejection(
                            .badRequest,
                            "device \(d) of shard \(i) is not a selected phone of round \(publication.round), is listed twice, or its plan is another round's"
                        )
                    }
                }
            }
            guard seen.count <= run.configuration.cohort else {
                throw ServerRejection(.badRequest, "the shards hold \(seen.count) phones, more than the cohort")
            }
            open.shardWork = ShardWork(publication)
        }
    }

    /// Leases the next waiting shard of any attached run to `worker`, or nil when no shard
    /// waits (expired leases are put back first). The lease's credential is left empty for
    /// the transport to fill in.
    public func leaseShard(worker: String, now: Date = Date()) -> ShardLease? {
        for run in activeRuns {
            let lease: ShardLease? = run.withLock {
                guard let open = run.open, var work = open.shardWork else { return nil }
                let id = withLock {
                    defer { nextLease += 1 }
                    return nextLease
                }
                guard let shard = work.lease(id, to: worker, now: now) else {
                    open.shardWork = work
                    return nil
                }
                open.shardWork = work
                withLock {
                    leaseRuns[id] = run.id
                    counters.leasesIssued += 1
                }
                return ShardLease(
                    lease: id, credential: "", run: run.id, round: open.opening.round, configuration: run.configuration,
                    virtualStart: work.publication.virtualStart, reportTime: work.publication.reportTime, shard: shard,
                    deadlineSeconds: work.publication.leaseSeconds)
            }
            if let lease { return lease }
        }
        return nil
    }

    /// The run and round a lease was issued for.
    public func leaseTarget(_ lease: Int64) throws(ServerRejection) -> (run: Int64, round: Int) {
        guard let runID = withLock({ leaseRuns[lease] }) else {
            throw ServerRejection(.leaseExpired, "lease \(lease) was never issued by this server")
        }
        let run = try active(runID)
        guard let round = run.withLock({ run.open?.opening.round }) else {
            throw ServerRejection(.leaseExpired, "lease \(lease)'s round is closed")
        }
        return (runID, round)
    }

    /// The model a lease's phones download (the open round's).
    public func model(forLease lease: Int64) throws(ServerRejection) -> [UInt8] {
        let (run, round) = try leaseTarget(lease)
        return try model(run: run, round: round)
    }

    /// Takes a worker's partial aggregate (`KBDP` bytes) under `lease`.
    public func submitPartial(lease: Int64, bytes: [UInt8], now: Date = Date()) throws(ServerRejection)
        -> PartialReceipt
    {
        do {
            let receipt = try takePartial(lease: lease, bytes: bytes, now: now)
            if receipt.accepted {
                withLock {
                    counters.partialsAccepted += 1
                    counters.partialBytes += bytes.count
                }
            }
            return receipt
        } catch {
            withLock { counters.partialRejections[error.reason.rawValue, default: 0] += 1 }
            throw error
        }
    }

    private func takePartial(lease: Int64, bytes: [UInt8], now: Date) throws(ServerRejection) -> PartialReceipt {
        let (runID, _) = try leaseTarget(lease)
        let run = try active(runID)
        return try run.withLock { () throws(ServerRejection) -> PartialReceipt in
            guard let open = run.open, let work = open.shardWork else {
                throw ServerRejection(.leaseExpired, "lease \(lease)'s round has no shards open")
            }
            let size = work.publication.shards.map(\.devices.count).max() ?? 0
            let layout = run.model.partialLayout
            let partial: PartialAggregate
            do {
                partial = try PartialAggregate.decode(
                    bytes, layoutHash: layout.hash, parameterCount: layout.count, maximumDevices: size)
            } catch let error as FederationError {
                throw ServerRejection(.malformedUpdate, error.message)
            } catch {
                throw ServerRejection(.malformedUpdate, "the partial aggregate does not decode")
            }
            guard partial.lease == lease else {
                throw ServerRejection(.badRequest, "the partial was made under lease \(partial.lease), not \(lease)")
            }
            return try open.receivePartial(partial, bytes: bytes.count, now: now)
        }
    }

    /// Gives a lease back (a worker stopping before it finished): the shard waits again.
    public func returnLease(_ lease: Int64) {
        guard let runID = withLock({ leaseRuns[lease] }), let run = try? active(runID) else { return }
        run.withLock {
            guard let open = run.open, var work = open.shardWork else { return }
            work.giveBack(lease)
            open.shardWork = work
        }
    }

    /// How far the workers are with round `round` of run `run`.
    public func shardProgress(run id: Int64, round: Int, now: Date = Date()) throws(ServerRejection) -> ShardProgress {
        let run = try active(id)
        return try run.withLock { () throws(ServerRejection) -> ShardProgress in
            let open = try run.requireOpen(round: round)
            guard var work = open.shardWork else {
                throw ServerRejection(.badRequest, "round \(round) of run \(id) has no shards published")
            }
            work.expireLeases(now: now)
            open.shardWork = work
            return work.progress(round: round)
        }
    }
}
