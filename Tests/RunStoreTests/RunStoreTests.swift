import Foundation
import GRDB
import Testing

@testable import RunStore

struct RunStoreTests {
    func newRun(_ store: RunStore) throws -> Int64 {
        let run = try store.createRun(
            RunRecord(
                createdAt: "2026-11-23T20:00:00Z", corpus: "synthetic", model: "kn3", codec: "q8s,z6", seed: 1,
                config: "{}"))
        return try #require(run.id)
    }

    func round(_ runId: Int64, _ n: Int) -> RoundRecord {
        RoundRecord(
            runId: runId, number: n, virtualStart: Double(n) * 60, virtualEnd: Double(n) * 60 + 45, selected: 13,
            reported: 10, dropped: 2, stragglers: 1, abandoned: false, bytesDown: 1000, bytesUp: 250, wallSeconds: 0.5)
    }

    @Test func commitsRoundsWithEvaluationsCheckpointsAndParticipation() throws {
        let store = try RunStore.inMemory()
        let id = try newRun(store)
        for n in 1...3 {
            try store.commit(
                .init(
                    round: round(id, n),
                    evaluations: [
                        EvaluationRecord(
                            runId: id, round: n, split: "users", predictions: 100, acc1: 0.1 * Double(n), acc3: 0.2,
                            acc1iv: 0.11, ppl: 300)
                    ],
                    checkpoint: CheckpointRecord(
                        runId: id, round: n, format: "arpa", sha256: "00", byteCount: 3, data: Data([1, 2, 3]),
                        path: nil),
                    participants: n == 2 ? [7, 8] : [7]))
        }
        #expect(try store.lastCommittedRound(ofRun: id) == 3)
        #expect(try store.rounds(ofRun: id).map(\.number) == [1, 2, 3])
        #expect(try store.evaluations(ofRun: id).count == 3)
        #expect(try store.latestCheckpoint(ofRun: id)?.round == 3)
        #expect(try store.participation(ofRun: id) == [7: 3, 8: 1])
    }

    @Test func aRoundIsNeverWrittenTwiceOrOutOfOrder() throws {
        let store = try RunStore.inMemory()
        let id = try newRun(store)
        try store.commit(.init(round: round(id, 1)))
        #expect(throws: RunStoreError(.roundAlreadyCommitted, "round 1 of run \(id) is already committed (last is 1)"))
        {
            try store.commit(.init(round: round(id, 1)))
        }
        #expect { try store.commit(.init(round: round(id, 3))) } throws: { ($0 as? RunStoreError)?.code == .outOfOrder }
    }

    @Test func aFailedCommitLeavesNothingBehind() throws {
        let store = try RunStore.inMemory()
        let id = try newRun(store)
        // The evaluation violates a CHECK (source must be server or federated): the whole
        // round, its checkpoint and participation roll back.
        var bad = EvaluationRecord(
            runId: id, round: 1, split: "users", predictions: 1, acc1: 0, acc3: 0, acc1iv: 0, ppl: nil)
        bad.metric = "nwp-v1"
        try store.writer.write { db in try db.execute(sql: "PRAGMA ignore_check_constraints = OFF") }
        let checkpoint = CheckpointRecord(
            runId: id, round: 1, format: "arpa", sha256: "x", byteCount: 0, data: nil, path: nil)
        #expect(throws: (any Error).self) {
            try store.commit(
                .init(round: round(id, 1), evaluations: [bad], checkpoint: checkpoint, participants: [1, 2]))
        }
        #expect(try store.lastCommittedRound(ofRun: id) == 0)
        #expect(try store.evaluations(ofRun: id).isEmpty)
        #expect(try store.participation(ofRun: id).isEmpty)
    }

    @Test func fileStoresUseWALAndReopen() throws {
        let path = NSTemporaryDirectory() + "kbd-sim-store-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        do {
            let store = try RunStore.open(path: path)
            let id = try newRun(store)
            try store.commit(.init(round: round(id, 1)))
            let mode = try store.writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
        }
        let reopened = try RunStore.open(path: path)
        #expect(try reopened.runs().count == 1)
        #expect(try reopened.lastCommittedRound(ofRun: 1) == 1)
    }

    @Test func unknownRunsAndUnusableFilesAreClearErrors() throws {
        let store = try RunStore.inMemory()
        _ = try newRun(store)
        #expect { try store.requireRun(id: 42) } throws: { error in
            let e = error as? RunStoreError
            return e?.code == .noSuchRun && (e?.message.contains("runs in the store: 1") ?? false)
        }
        let junk = NSTemporaryDirectory() + "kbd-sim-junk-\(UUID().uuidString).sqlite"
        FileManager.default.createFile(atPath: junk, contents: Data(repeating: 0x41, count: 4096))
        defer { try? FileManager.default.removeItem(atPath: junk) }
        #expect { _ = try RunStore.open(path: junk) } throws: { ($0 as? RunStoreError)?.code == .unusableDatabase }
    }

    @Test("Migration v3 adds local hours to a v2 store, keeps its rounds, and stores 24 counts per new round")
    func migrationV3KeepsV2Data() throws {
        let queue = try DatabaseQueue()
        try RunStoreMigrations.migrator.migrate(queue, upTo: "v2-round-tokens-timings-model-hash")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO run (createdAt, status, corpus, model, codec, seed, config)
                    VALUES ('2026-01-01T00:00:00Z', 'finished', 'synthetic', 'kn3', 'f32', 1, '{}');
                    INSERT INTO round (runId, number, virtualStart, virtualEnd, selected, reported, dropped, stragglers, abandoned,
                                       bytesDown, bytesUp, wallSeconds, surplus, tokens, modelSHA256)
                    VALUES (1, 1, 0, 60, 13, 10, 2, 1, 0, 1000, 250, 0.5, 0, 99, 'ab');
                    """)
        }
        let store = try RunStore(writer: queue)
        #expect(
            try queue.read { try RunStoreMigrations.migrator.appliedIdentifiers($0) }.contains("v3-round-local-hours"))
        let old = try store.rounds(ofRun: 1)
        #expect(
            old.count == 1 && old[0].reported == 10 && old[0].tokens == 99 && old[0].modelSHA256 == "ab"
                && old[0].bytesUp == 250)
        #expect(old[0].reportingLocalHours == nil)
        #expect(try store.getRun(id: 1)?.status == .finished)

        var next = round(1, 2)
        next.reportingLocalHours = [Int](repeating: 0, count: 23) + [10]
        try store.commit(.init(round: next))
        #expect(try store.rounds(ofRun: 1).last?.reportingLocalHours == next.reportingLocalHours)
        var bad = round(1, 3)
        bad.reportingLocalHours = [4, 6]
        #expect(throws: (any Error).self) { try store.commit(.init(round: bad)) }
        #expect(try store.lastCommittedRound(ofRun: 1) == 2)
    }
}
