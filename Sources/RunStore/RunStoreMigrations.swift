import GRDB

/// The store's schema, as named, append-only migrations written in SQL (no app types), so
/// a database written by any earlier version opens with a later one.
enum RunStoreMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-runs-rounds-evaluations-checkpoints") { db in
            try db.execute(
                sql: """
                    CREATE TABLE run (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        createdAt TEXT NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
                        corpus TEXT NOT NULL,
                        model TEXT NOT NULL,
                        codec TEXT NOT NULL,
                        seed INTEGER NOT NULL,
                        config TEXT NOT NULL
                    );
                    CREATE TABLE round (
                        runId INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                        number INTEGER NOT NULL CHECK (number >= 1),
                        virtualStart REAL NOT NULL,
                        virtualEnd REAL NOT NULL CHECK (virtualEnd >= virtualStart),
                        selected INTEGER NOT NULL CHECK (selected >= 0),
                        reported INTEGER NOT NULL CHECK (reported >= 0),
                        dropped INTEGER NOT NULL CHECK (dropped >= 0),
                        stragglers INTEGER NOT NULL CHECK (stragglers >= 0),
                        abandoned INTEGER NOT NULL CHECK (abandoned IN (0, 1)),
                        bytesDown INTEGER NOT NULL CHECK (bytesDown >= 0),
                        bytesUp INTEGER NOT NULL CHECK (bytesUp >= 0),
                        wallSeconds REAL NOT NULL,
                        PRIMARY KEY (runId, number)
                    );
                    CREATE TABLE evaluation (
                        runId INTEGER NOT NULL,
                        round INTEGER NOT NULL,
                        split TEXT NOT NULL,
                        source TEXT NOT NULL CHECK (source IN ('server', 'federated')),
                        metric TEXT NOT NULL,
                        predictions INTEGER NOT NULL,
                        acc1 REAL NOT NULL,
                        acc3 REAL NOT NULL,
                        acc1iv REAL NOT NULL,
                        ppl REAL,
                        PRIMARY KEY (runId, round, split, source),
                        FOREIGN KEY (runId, round) REFERENCES round(runId, number) ON DELETE CASCADE
                    );
                    CREATE TABLE checkpoint (
                        runId INTEGER NOT NULL,
                        round INTEGER NOT NULL,
                        format TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        byteCount INTEGER NOT NULL,
                        data BLOB,
                        path TEXT,
                        CHECK (data IS NOT NULL OR path IS NOT NULL),
                        PRIMARY KEY (runId, round),
                        FOREIGN KEY (runId, round) REFERENCES round(runId, number) ON DELETE CASCADE
                    );
                    CREATE TABLE participation (
                        runId INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                        device INTEGER NOT NULL,
                        rounds INTEGER NOT NULL CHECK (rounds >= 1),
                        PRIMARY KEY (runId, device)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-round-tokens-timings-model-hash") { db in
            try db.execute(
                sql: """
                    ALTER TABLE round ADD COLUMN surplus INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE round ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE round ADD COLUMN trainSeconds REAL NOT NULL DEFAULT 0;
                    ALTER TABLE round ADD COLUMN serverSeconds REAL NOT NULL DEFAULT 0;
                    ALTER TABLE round ADD COLUMN modelSHA256 TEXT NOT NULL DEFAULT '';
                    """)
        }
        // Per round, the reporting devices by local hour of day (0…23) at their report: a JSON
        // array of 24 integers, NULL where not recorded (rounds committed before v3). A column
        // rather than a child table: it is written by the round's own INSERT, so it is in the
        // round's transaction by construction, and it is always read with its round.
        migrator.registerMigration("v3-round-local-hours") { db in
            try db.execute(
                sql: """
                    ALTER TABLE round ADD COLUMN reportingLocalHours TEXT
                        CHECK (reportingLocalHours IS NULL OR json_array_length(reportingLocalHours) = 24);
                    """)
        }
        // Per round, what each aggregation stage recorded (monitoring: norms, clipped or
        // discarded updates, noise): one row per (round, stage), its figures as JSON. Written in
        // the round's transaction; deleted with its run.
        migrator.registerMigration("v4-round-stage-reports") { db in
            try db.execute(
                sql: """
                    CREATE TABLE stageReport (
                        runId INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                        round INTEGER NOT NULL,
                        stage TEXT NOT NULL,
                        json TEXT NOT NULL CHECK (json_valid(json)),
                        PRIMARY KEY (runId, round, stage)
                    );
                    """)
        }
        // Per evaluated round of a run with a backdoor target (issue 17): how often the model
        // suggests the attacker's word after the trigger. Written in the round's transaction.
        migrator.registerMigration("v5-backdoor-evaluations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE backdoorEvaluation (
                        runId INTEGER NOT NULL,
                        round INTEGER NOT NULL,
                        contexts INTEGER NOT NULL CHECK (contexts >= 0),
                        at1 REAL NOT NULL CHECK (at1 >= 0 AND at1 <= 1),
                        at3 REAL NOT NULL CHECK (at3 >= at1 AND at3 <= 1),
                        PRIMARY KEY (runId, round),
                        FOREIGN KEY (runId, round) REFERENCES round(runId, number) ON DELETE CASCADE
                    );
                    """)
        }
        // The last committed round each phone reported in, beside its count: what a minimum
        // separation between two participations is checked against (0 for rows written
        // before this migration, whose runs had no separation to keep).
        migrator.registerMigration("v6-participation-last-round") { db in
            try db.execute(sql: "ALTER TABLE participation ADD COLUMN lastRound INTEGER NOT NULL DEFAULT 0")
        }
        // Issue 18: per-user counts of every evaluation; per round, the phones whose update was
        // aggregated (little-endian u32 ids, in aggregation order), so a run can be branched
        // from any committed round with its participation ledger as it stood then; the rounds
        // the regression guard flagged.
        migrator.registerMigration("v7-user-evaluations-round-participants") { db in
            try db.execute(
                sql: """
                    CREATE TABLE userEvaluation (
                        runId INTEGER NOT NULL,
                        round INTEGER NOT NULL,
                        split TEXT NOT NULL,
                        user INTEGER NOT NULL,
                        predictions INTEGER NOT NULL CHECK (predictions >= 0),
                        hits1 INTEGER NOT NULL CHECK (hits1 >= 0 AND hits1 <= predictions),
                        hits3 INTEGER NOT NULL CHECK (hits3 >= hits1 AND hits3 <= predictions),
                        PRIMARY KEY (runId, round, split, user),
                        FOREIGN KEY (runId, round) REFERENCES round(runId, number) ON DELETE CASCADE
                    ) WITHOUT ROWID;
                    ALTER TABLE round ADD COLUMN participants BLOB;
                    CREATE TABLE regression (
                        runId INTEGER NOT NULL,
                        round INTEGER NOT NULL,
                        acc1 REAL NOT NULL,
                        bestRound INTEGER NOT NULL,
                        bestAcc1 REAL NOT NULL,
                        rolledBackTo INTEGER,
                        PRIMARY KEY (runId, round),
                        FOREIGN KEY (runId, round) REFERENCES round(runId, number) ON DELETE CASCADE
                    );
                    """)
        }
        return migrator
    }
}
