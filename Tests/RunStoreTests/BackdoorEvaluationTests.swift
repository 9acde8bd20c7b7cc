import Foundation
import Testing

@testable import RunStore

@Suite("Backdoor evaluations in the store")
struct BackdoorEvaluationTests {
    @Test("They are committed with their round, read back by round, and a bad one fails the whole commit")
    func committedWithTheRound() throws {
        let store = try RunStore.inMemory()
        let base = RunStoreTests()
        let id = try base.newRun(store)
        try store.commit(
            .init(
                round: base.round(id, 1),
                backdoorEvaluations: [BackdoorEvaluationRecord(runId: id, round: 1, contexts: 141, at1: 0.25, at3: 0.5)]
            ))
        try store.commit(.init(round: base.round(id, 2)))
        #expect(
            try store.backdoorEvaluations(ofRun: id) == [
                BackdoorEvaluationRecord(runId: id, round: 1, contexts: 141, at1: 0.25, at3: 0.5)
            ])
        // backdoor@3 below backdoor@1 violates a CHECK: round 3 is not committed at all.
        #expect(throws: (any Error).self) {
            try store.commit(
                .init(
                    round: base.round(id, 3),
                    backdoorEvaluations: [BackdoorEvaluationRecord(runId: id, round: 3, contexts: 1, at1: 1, at3: 0)]))
        }
        #expect(try store.lastCommittedRound(ofRun: id) == 2)
    }
}
