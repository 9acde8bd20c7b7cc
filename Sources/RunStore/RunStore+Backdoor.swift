import GRDB

extension RunStore {
    /// A run's backdoor evaluations, by round.
    public func backdoorEvaluations(ofRun id: Int64) throws -> [BackdoorEvaluationRecord] {
        try writer.read { db in
            try BackdoorEvaluationRecord.filter(Column("runId") == id).order(Column("round")).fetchAll(db)
        }
    }
}
