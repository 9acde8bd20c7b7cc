internal import Foundation
public import GRDB

extension RunStore {
    /// Phone ids as little-endian u32s (the round table's `participants` column).
    static func encodeDevices(_ devices: [UInt64]) -> Data {
        var data = Data(capacity: devices.count * 4)
        for d in devices {
            let v = UInt32(truncatingIfNeeded: d)
            data.append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)])
        }
        return data
    }

    static func decodeDevices(_ data: Data) -> [UInt32] {
        let bytes = [UInt8](data)
        return stride(from: 0, to: bytes.count - 3, by: 4).map {
            UInt32(bytes[$0]) | UInt32(bytes[$0 + 1]) << 8 | UInt32(bytes[$0 + 2]) << 16 | UInt32(bytes[$0 + 3]) << 24
        }
    }

    /// A run's per-user counts, in round, split and user order.
    public func userEvaluations(ofRun id: Int64) throws -> [UserEvaluationRecord] {
        try writer.read { db in
            try UserEvaluationRecord.filter(Column("runId") == id)
                .order(Column("round"), Column("split"), Column("user")).fetchAll(db)
        }
    }

    /// The rounds of run `id` the regression guard flagged, in round order.
    public func regressions(ofRun id: Int64) throws -> [RegressionRecord] {
        try writer.read { db in
            try RegressionRecord.filter(Column("runId") == id).order(Column("round")).fetchAll(db)
        }
    }

    /// The checkpoint of round `round` of run `id`, or nil if it was not kept.
    public func checkpoint(ofRun id: Int64, round: Int) throws -> CheckpointRecord? {
        try writer.read { db in try CheckpointRecord.fetchOne(db, key: ["runId": id, "round": round]) }
    }

    /// Checks that run `id` exists and committed round `round`, the only rounds a branch can
    /// start after.
    ///
    /// - Throws: ``RunStoreError`` with ``RunStoreError/Code/noSuchRun`` or
    ///   ``RunStoreError/Code/noSuchRound``.
    public func requireBranchPoint(ofRun id: Int64, round: Int) throws {
        _ = try requireRun(id: id)
        let last = try lastCommittedRound(ofRun: id)
        guard round >= 1, round <= last else {
            throw RunStoreError(
                .noSuchRound,
                last == 0
                    ? "run \(id) has no committed round to branch from; --from-round needs one of its committed rounds"
                    : "run \(id) has no committed round \(round); --from-round must be in 1…\(last)")
        }
    }

    /// Starts a new run as a copy of run `parent` up to its committed round `round`: the new
    /// run's record (`run`, whose configuration names its lineage), the parent's rounds 1…R
    /// with their evaluations, per-user counts, stage reports and backdoor figures, round R's
    /// checkpoint, and the participation ledger as it stood after round R — all in one
    /// transaction, so a failed branch stores nothing.
    ///
    /// - Throws: ``RunStoreError`` with ``RunStoreError/Code/noSuchRun`` for an unknown
    ///   parent, ``RunStoreError/Code/noSuchRound`` for a round that was never committed, and
    ///   ``RunStoreError/Code/cannotBranch`` when round R's checkpoint was not kept or a round
    ///   predates per-round participants.
    public func branchRun(from parent: Int64, round: Int, as run: RunRecord) throws -> RunRecord {
        try requireBranchPoint(ofRun: parent, round: round)
        var run = run
        try writer.write { db in
            guard
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM checkpoint WHERE runId = ? AND round = ? AND data IS NOT NULL",
                    arguments: [parent, round]) == 1
            else {
                let kept = try Int.fetchAll(
                    db, sql: "SELECT round FROM checkpoint WHERE runId = ? ORDER BY round", arguments: [parent])
                throw RunStoreError(
                    .cannotBranch,
                    "run \(parent) kept no checkpoint of round \(round) (kept: \(kept.isEmpty ? "none" : kept.map(String.init).joined(separator: ", "))); branch from a kept round, or run with --checkpoint-every 1 to keep every round"
                )
            }
            let missing = try Int.fetchOne(
                db,
                sql: """
                    SELECT MIN(number) FROM round WHERE runId = ? AND number <= ? AND participants IS NULL
                    AND abandoned = 0 AND reported > 0
                    """, arguments: [parent, round])
            if let missing {
                throw RunStoreError(
                    .cannotBranch,
                    "round \(missing) of run \(parent) was committed by an older kbd-sim that did not keep its participants, so the participation ledger at round \(round) cannot be rebuilt; branch a run made with this version"
                )
            }
            try run.insert(db)
            let id = run.id!
            let columns = """
                number, virtualStart, virtualEnd, selected, reported, dropped, stragglers, abandoned, bytesDown,
                bytesUp, wallSeconds, surplus, tokens, trainSeconds, serverSeconds, modelSHA256, reportingLocalHours,
                participants
                """
            try db.execute(
                sql:
                    "INSERT INTO round (runId, \(columns)) SELECT ?, \(columns) FROM round WHERE runId = ? AND number <= ?",
                arguments: [id, parent, round])
            for (table, columns) in [
                ("evaluation", "round, split, source, metric, predictions, acc1, acc3, acc1iv, ppl"),
                ("userEvaluation", "round, split, user, predictions, hits1, hits3"),
                ("stageReport", "round, stage, json"),
                ("backdoorEvaluation", "round, contexts, at1, at3"),
                ("regression", "round, acc1, bestRound, bestAcc1, rolledBackTo"),
            ] {
                try db.execute(
                    sql:
                        "INSERT INTO \(table) (runId, \(columns)) SELECT ?, \(columns) FROM \(table) WHERE runId = ? AND round <= ?",
                    arguments: [id, parent, round])
            }
            try db.execute(
                sql: """
                    INSERT INTO checkpoint (runId, round, format, sha256, byteCount, data, path)
                    SELECT ?, round, format, sha256, byteCount, data, path FROM checkpoint WHERE runId = ? AND round = ?
                    """, arguments: [id, parent, round])
            // The ledger after round R, rebuilt from the rounds' participants.
            var ledger: [UInt32: (rounds: Int, last: Int)] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql:
                    "SELECT number, participants FROM round WHERE runId = ? AND number <= ? AND participants IS NOT NULL ORDER BY number",
                arguments: [id, round])
            while let row = try rows.next() {
                let number: Int = row[0]
                let data: Data = row[1]
                for d in Self.decodeDevices(data) {
                    ledger[d, default: (0, 0)] = (ledger[d, default: (0, 0)].rounds + 1, number)
                }
            }
            let insert = try db.cachedStatement(
                sql: "INSERT INTO participation (runId, device, rounds, lastRound) VALUES (?, ?, ?, ?)")
            for (d, e) in ledger.sorted(by: { $0.key < $1.key }) {
                try insert.execute(arguments: [id, Int64(d), e.rounds, e.last])
            }
        }
        return run
    }
}
