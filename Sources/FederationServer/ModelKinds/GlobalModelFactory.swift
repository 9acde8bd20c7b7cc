import FederationProtocol
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels

// The server's one place that looks at which kind of model a run trains; everything else on
// the server works through ``GlobalModel``.

extension RunConfiguration {
    /// The server's fresh global model for this run (deterministic in its seed), with its
    /// aggregation stages.
    func makeGlobalModel(vocabulary: Vocabulary) throws -> any GlobalModel {
        switch model {
        case .neural(let config):
            var global = try NeuralGlobalModel(config: config, zipfBias: zipfBias) { model in
                try AggregationStages.pipeline(
                    effectiveAggregationStages,
                    context: .init(
                        parameterCount: model.parameters.count, layoutHash: model.layoutHash,
                        tensorRanges: model.layout.tensors.map(\.range), configuration: self))
            }
            global.shardCount = shardSize.map { (cohort + $0 - 1) / $0 }
            return global
        case .ngram(let order):
            return NGramGlobalModel(order: order, vocabulary: vocabulary, privacy: CountPrivacy(self), seed: seed)
        }
    }
}
