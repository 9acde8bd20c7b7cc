import Dispatch
import Federation
import FederationProtocol
import LanguageModelTypes
import LanguageModels

extension NGramGlobalModel {
    /// The keyboard's classic user model: per user, a Kneser-Ney model of their earlier text
    /// interpolated with the global model (``InterpolatedUserModel``), scored on their later
    /// text beside the global model alone.
    ///
    /// With no λ given, λ is picked on held-out training text: each user's earlier text is
    /// divided again, first 80% and the rest; for every λ of
    /// ``PersonalizationConfiguration/lambdaGrid`` the user model of the first part is scored
    /// on the rest, and the λ with the highest pooled acc@1 over all users wins (the smaller λ
    /// on a tie). The scoring text is never looked at to choose it.
    func personalize(_ users: [PersonalizationText], settings: PersonalizationConfiguration, run: RunConfiguration)
        throws -> PersonalizationResult
    {
        guard !counts.isEmpty else {
            let empty = users.map { _ in (global: NextWordMetrics(), personal: NextWordMetrics()) }
            return PersonalizationResult(users: users, results: empty, lambda: settings.lambda)
        }
        let kn = try KneserNeyModel(counts: counts, vocabulary: vocabulary)
        let lambda = try settings.lambda ?? Self.chooseLambda(kn, users: users)
        let results = try Self.perUser(users) { text in
            var global = kn
            var personal = try InterpolatedUserModel(global: kn, userMessages: text.fineTune, lambda: lambda)
            return (
                NextWordEvaluator.evaluate(&global, messages: text.score),
                NextWordEvaluator.evaluate(&personal, messages: text.score)
            )
        }
        return PersonalizationResult(users: users, results: results, lambda: lambda)
    }

    /// The λ of the grid with the best pooled acc@1 on held-out training text.
    static func chooseLambda(_ kn: KneserNeyModel, users: [PersonalizationText]) throws -> Double {
        let grid = PersonalizationConfiguration.lambdaGrid
        let held = users.compactMap { text -> PersonalizationText? in
            let cut = text.fineTune.count * 8 / 10
            guard cut > 0, cut < text.fineTune.count else { return nil }
            return PersonalizationText(
                user: text.user, fineTune: Array(text.fineTune[..<cut]), score: Array(text.fineTune[cut...]))
        }
        guard !held.isEmpty else { return 0 }
        // Hits@1 per grid point, per user, summed in user order.
        let perUser = try perUser(held) { text -> [Int] in
            try grid.map { lambda in
                var model = try InterpolatedUserModel(global: kn, userMessages: text.fineTune, lambda: lambda)
                return NextWordEvaluator.evaluate(&model, messages: text.score).hitsAt1
            }
        }
        var hits = [Int](repeating: 0, count: grid.count)
        for row in perUser { for (i, h) in row.enumerated() { hits[i] += h } }
        var best = 0
        for i in hits.indices where hits[i] > hits[best] { best = i }
        return grid[best]
    }

    /// `body` for every user, on two threads (contiguous shards), results in user order.
    static func perUser<T>(_ users: [PersonalizationText], _ body: (PersonalizationText) throws -> T) throws -> [T] {
        let shards = max(1, min(2, users.count))
        nonisolated(unsafe) var results = [Result<T, any Error>?](repeating: nil, count: users.count)
        try withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            results.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let out = slots
                DispatchQueue.concurrentPerform(iterations: shards) { shard in
                    for u in (users.count * shard / shards)..<(users.count * (shard + 1) / shards) {
                        out[u] = Result { try body(users[u]) }
                    }
                }
            }
        }
        return try results.map { try $0!.get() }
    }
}
