import Dispatch
import FederatedCore
import Federation
import FederationProtocol
import LanguageModelTypes
import LanguageModels

extension NeuralGlobalModel {
    /// On-phone personalization (Wang et al. 2019): each user's phone starts from the global
    /// model, fine-tunes it with SGD on the user's earlier text and is scored on their later
    /// text, beside the global model on the same text.
    ///
    /// Users are split into two contiguous shards, one per thread, each with its own trainer;
    /// every user's shuffle seed is derived from the run's seed and the user, so the result is
    /// the same on any machine.
    func personalize(_ users: [PersonalizationText], settings: PersonalizationConfiguration, run: RunConfiguration)
        -> PersonalizationResult
    {
        var current = model
        current.parameters = ContiguousArray(weights)
        let model = current
        let start = model.parameters
        let options = settings.trainingOptions(
            seed: run.seed, clipNorm: run.client.clipNorm, maxMessageLength: run.client.maxMessageLength)
        let shards = max(1, min(2, users.count))
        nonisolated(unsafe) var results = [(global: NextWordMetrics, personal: NextWordMetrics)](
            repeating: (NextWordMetrics(), NextWordMetrics()), count: users.count)
        results.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let out = slots
            DispatchQueue.concurrentPerform(iterations: shards) { shard in
                let trainer = LSTMTrainer(model: model, options: options)
                var global = LSTMPredictor(model: model)
                for u in (users.count * shard / shards)..<(users.count * (shard + 1) / shards) {
                    let text = users[u]
                    let seed = SplitMix64.derivedSeed(run.seed, streams: 0x9E25, UInt64(text.user))
                    _ = trainer.trainLocally(from: start, on: text.fineTune, epochs: settings.epochs, seed: seed)
                    var personal = LSTMPredictor(model: trainer.model)
                    out[u] = (
                        NextWordEvaluator.evaluate(&global, messages: text.score),
                        NextWordEvaluator.evaluate(&personal, messages: text.score)
                    )
                }
            }
        }
        return PersonalizationResult(users: users, results: results, lambda: nil)
    }
}

extension PersonalizationResult {
    /// Pools per-user results (in user order).
    init(
        users: [PersonalizationText], results: [(global: NextWordMetrics, personal: NextWordMetrics)],
        lambda: Double?
    ) {
        var global = NextWordMetrics()
        var personal = NextWordMetrics()
        for r in results {
            global.merge(r.global)
            personal.merge(r.personal)
        }
        self.init(
            global: global, personalized: personal,
            globalUsers: zip(users, results).map { UserScore(user: $0.user, metrics: $1.global) },
            personalizedUsers: zip(users, results).map { UserScore(user: $0.user, metrics: $1.personal) },
            lambda: lambda)
    }
}
