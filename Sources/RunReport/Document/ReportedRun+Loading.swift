public import RunStore

extension ReportedRun {
    /// Reads runs `ids` from `store`, in the order given (repeats dropped), and checks they
    /// were trained on one corpus.
    ///
    /// - Parameters:
    ///   - storePath: the store's path, for messages.
    ///   - allowMixedCorpora: accept runs on different corpora (the report then says so).
    /// - Throws: ``RunReportError`` with ``RunReportError/Code/noRuns``,
    ///   ``RunReportError/Code/noSuchRun`` (naming the store's ids), or
    ///   ``RunReportError/Code/mixedCorpora`` (naming each run's corpus).
    public static func load(
        ids: [Int64], from store: RunStore, storePath: String, allowMixedCorpora: Bool
    ) throws -> [ReportedRun] {
        guard !ids.isEmpty else {
            throw RunReportError(.noRuns, "name at least one run id (kbd-sim runs list --db \(storePath) shows them)")
        }
        var seen = Set<Int64>()
        var runs: [ReportedRun] = []
        for id in ids where seen.insert(id).inserted {
            guard let record = try store.getRun(id: id) else {
                let known = try store.runs().compactMap(\.id).sorted()
                let listing =
                    known.isEmpty
                    ? "the store has no run yet" : "its runs are \(known.map(String.init).joined(separator: ", "))"
                throw RunReportError(
                    .noSuchRun, "there is no run \(id) in this store; \(listing) (kbd-sim runs list --db \(storePath))",
                    path: storePath)
            }
            runs.append(
                ReportedRun(
                    record: record, rounds: try store.rounds(ofRun: id), evaluations: try store.evaluations(ofRun: id),
                    stageReports: try store.stageReports(ofRun: id),
                    backdoorEvaluations: try store.backdoorEvaluations(ofRun: id),
                    userEvaluations: try store.userEvaluations(ofRun: id)))
        }
        let corpora = Set(runs.map(\.record.corpus))
        if corpora.count > 1 && !allowMixedCorpora {
            let listing = runs.map { "run \($0.id): \($0.record.corpus)" }.joined(separator: "; ")
            throw RunReportError(
                .mixedCorpora,
                "the runs were trained on different corpora (\(listing)), so their accuracies are not comparable; pass --allow-mixed-corpora to report them together anyway"
            )
        }
        return runs
    }
}
