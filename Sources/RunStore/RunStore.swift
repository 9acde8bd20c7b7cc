internal import Foundation
public import GRDB

/// Every federated run, kept in SQLite: runs, rounds, evaluations, checkpoints and
/// per-device participation.
///
/// A round is committed in one transaction (``commit(_:)``): its row, its evaluations,
/// its checkpoint and the participation counts of its reporting devices land together or
/// not at all. A run interrupted at any instant — Ctrl-C, a crash, `kill -9` — therefore
/// resumes from its last committed round, which is never lost or repeated. File-backed
/// stores use a WAL-mode `DatabasePool`; tests use an in-memory `DatabaseQueue`.
public struct RunStore: Sendable {
    /// The database.
    public let writer: any DatabaseWriter

    /// Wraps an opened database and brings its schema up to date.
    public init(writer: some DatabaseWriter) throws {
        self.writer = writer
        try RunStoreMigrations.migrator.migrate(writer)
    }

    /// Opens (creating if needed) the store at `path` in WAL mode.
    ///
    /// - Throws: ``RunStoreError`` if the file cannot be opened or is not a kbd-sim store.
    public static func open(path: String) throws -> RunStore {
        do {
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            configuration.busyMode = .timeout(10)
            return try RunStore(writer: DatabasePool(path: path, configuration: configuration))
        } catch let error as DatabaseError {
            throw RunStoreError(
                .unusableDatabase,
                "cannot open the run store (\(error.resultCode)); is it a kbd-sim SQLite file you can write?",
                path: path, cause: error)
        }
    }

    /// A fresh in-memory store (for tests and one-off runs).
    public static func inMemory() throws -> RunStore {
        try RunStore(writer: DatabaseQueue())
    }

    // MARK: - Writing

    /// Records a new run and returns it with its id.
    public func createRun(_ run: RunRecord) throws -> RunRecord {
        var run = run
        try writer.write { db in try run.insert(db) }
        return run
    }

    /// Sets a run's status (`finished`, `interrupted`, …).
    public func setStatus(_ status: RunRecord.Status, ofRun id: Int64) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE run SET status = ? WHERE id = ?", arguments: [status, id])
        }
    }

    /// Everything one round produced, committed atomically.
    public struct CommittedRound: Sendable {
        public var round: RoundRecord
        public var evaluations: [EvaluationRecord]
        public var checkpoint: CheckpointRecord?
        /// Devices whose update was aggregated this round.
        public var participants: [UInt64]
        /// After inserting this round's checkpoint, delete the run's older checkpoints except
        /// those of rounds that are multiples of this (0 keeps none of them; nil keeps all).
        public var keepCheckpointsEvery: Int?
        /// What the aggregation stages recorded about the round.
        public var stageReports: [StageReportRecord]
        /// The backdoor metric, if the round evaluated it.
        public var backdoorEvaluations: [BackdoorEvaluationRecord]
        /// Per-user counts of the round's evaluations.
        public var userEvaluations: [UserEvaluationRecord] = []
        /// The regression guard's flag, if it flagged this round.
        public var regression: RegressionRecord?
        /// A round whose checkpoint ``keepCheckpointsEvery`` must spare (the best so far, which
        /// a rollback restores).
        public var keepCheckpointOfRound: Int?

        public init(
            round: RoundRecord, evaluations: [EvaluationRecord] = [], checkpoint: CheckpointRecord? = nil,
            participants: [UInt64] = [], keepCheckpointsEvery: Int? = nil, stageReports: [StageReportRecord] = [],
            backdoorEvaluations: [BackdoorEvaluationRecord] = [], userEvaluations: [UserEvaluationRecord] = [],
            keepCheckpointOfRound: Int? = nil, regression: RegressionRecord? = nil
        ) {
            self.regression = regression
            self.userEvaluations = userEvaluations
            self.keepCheckpointOfRound = keepCheckpointOfRound
            self.backdoorEvaluations = backdoorEvaluations
            self.stageReports = stageReports
            self.keepCheckpointsEvery = keepCheckpointsEvery
            self.round = round
            self.evaluations = evaluations
            self.checkpoint = checkpoint
            self.participants = participants
        }
    }

    /// Commits one round in a single transaction.
    ///
    /// - Throws: ``RunStoreError`` with ``RunStoreError/Code/roundAlreadyCommitted`` if the
    ///   round exists (a resumed run never writes a round twice), or
    ///   ``RunStoreError/Code/outOfOrder`` if it is not the next round of its run.
    public func commit(_ committed: CommittedRound) throws {
        let runId = committed.round.runId
        let number = committed.round.number
        try writer.write { db in
            let last =
                try Int.fetchOne(db, sql: "SELECT MAX(number) FROM round WHERE runId = ?", arguments: [runId]) ?? 0
            if number <= last {
                throw RunStoreError(
                    .roundAlreadyCommitted, "round \(number) of run \(runId) is already committed (last is \(last))")
            }
            guard number == last + 1 else {
                throw RunStoreError(
                    .outOfOrder, "round \(number) of run \(runId) is not the next round (last committed is \(last))")
            }
            try committed.round.insert(db)
            try db.execute(
                sql: "UPDATE round SET participants = ? WHERE runId = ? AND number = ?",
                arguments: [Self.encodeDevices(committed.participants), runId, number])
            for evaluation in committed.evaluations { try evaluation.insert(db) }
            for user in committed.userEvaluations { try user.insert(db) }
            try committed.regression?.insert(db)
            try committed.checkpoint?.insert(db)
            for report in committed.stageReports { try report.insert(db) }
            for backdoor in committed.backdoorEvaluations { try backdoor.insert(db) }
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO participation (runId, device, rounds, lastRound) VALUES (?, ?, 1, ?)
                    ON CONFLICT (runId, device) DO UPDATE SET rounds = rounds + 1, lastRound = excluded.lastRound
                    """)
            for device in committed.participants {
                try statement.execute(arguments: [runId, Int64(bitPattern: device), number])
            }
            if let every = committed.keepCheckpointsEvery, committed.checkpoint != nil {
                try db.execute(
                    sql: """
                        DELETE FROM checkpoint WHERE runId = ? AND round < ? AND (? = 0 OR round % ? != 0)
                        AND round IS NOT ?
                        """,
                    arguments: [runId, number, every, every, committed.keepCheckpointOfRound])
            }
        }
    }

    // MARK: - Reading

    /// All runs, newest first.
    public func runs() throws -> [RunRecord] {
        try writer.read { db in try RunRecord.order(Column("id").desc).fetchAll(db) }
    }

    /// The run with `id`, or nil.
    public func getRun(id: Int64) throws -> RunRecord? {
        try writer.read { db in try RunRecord.fetchOne(db, key: id) }
    }

    /// The run with `id`.
    ///
    /// - Throws: ``RunStoreError/Code/noSuchRun`` naming the ids that exist.
    public func requireRun(id: Int64) throws -> RunRecord {
        if let run = try getRun(id: id) { return run }
        let ids = try runs().compactMap(\.id).sorted()
        let known =
            ids.isEmpty
            ? "the store has no run yet" : "runs in the store: \(ids.map(String.init).joined(separator: ", "))"
        throw RunStoreError(.noSuchRun, "there is no run \(id); \(known) (kbd-sim runs list)")
    }

    /// A run's rounds in order.
    public func rounds(ofRun id: Int64) throws -> [RoundRecord] {
        try writer.read { db in
            try RoundRecord.filter(Column("runId") == id).order(Column("number")).fetchAll(db)
        }
    }

    /// A run's evaluations in round order.
    public func evaluations(ofRun id: Int64) throws -> [EvaluationRecord] {
        try writer.read { db in
            try EvaluationRecord.filter(Column("runId") == id).order(Column("round"), Column("split"), Column("source"))
                .fetchAll(db)
        }
    }

    /// What the aggregation stages recorded, in round and stage order.
    public func stageReports(ofRun id: Int64) throws -> [StageReportRecord] {
        try writer.read { db in
            try StageReportRecord.filter(Column("runId") == id).order(Column("round"), Column("stage")).fetchAll(db)
        }
    }

    /// Every phone that reported in a committed round of run `id`: how many rounds, and the
    /// last one, by device id.
    public func participationHistory(ofRun id: Int64) throws -> [(device: UInt64, rounds: Int, lastRound: Int)] {
        try writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT device, rounds, lastRound FROM participation WHERE runId = ? ORDER BY device",
                arguments: [id]
            ).map { (UInt64(bitPattern: $0["device"] as Int64), $0["rounds"], $0["lastRound"]) }
        }
    }

    /// The last committed round number of a run, 0 if none.
    public func lastCommittedRound(ofRun id: Int64) throws -> Int {
        try writer.read { db in
            try Int.fetchOne(db, sql: "SELECT MAX(number) FROM round WHERE runId = ?", arguments: [id]) ?? 0
        }
    }

    /// The newest checkpoint of a run, or nil.
    public func latestCheckpoint(ofRun id: Int64) throws -> CheckpointRecord? {
        try writer.read { db in
            try CheckpointRecord.filter(Column("runId") == id).order(Column("round").desc).fetchOne(db)
        }
    }

    /// How many rounds each device reported in, for a run.
    public func participation(ofRun id: Int64) throws -> [UInt64: Int] {
        try writer.read { db in
            var result: [UInt64: Int] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT device, rounds FROM participation WHERE runId = ?", arguments: [id])
            while let row = try rows.next() {
                result[UInt64(bitPattern: row[0] as Int64)] = row[1]
            }
            return result
        }
    }
}
