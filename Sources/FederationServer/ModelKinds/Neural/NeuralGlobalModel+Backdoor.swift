import KeyboardCorpus
import LanguageModelTypes
import LanguageModels

extension NeuralGlobalModel {
    /// The backdoor metric: over `contexts` (each ends in the target word, after the
    /// trigger), how often the model's top suggestion (`hitsAt1`) or top three (`hitsAt3`)
    /// before the last word is that word. `predictions` counts the contexts.
    func evaluateBackdoor(_ contexts: [[Int32]]) -> NextWordMetrics? {
        var model = model
        model.parameters = ContiguousArray(weights)
        return Self.scoreLastWord(LSTMPredictor(model: model), contexts: contexts)
    }

    /// Scores the prediction of every context's last word.
    static func scoreLastWord(_ predictor: some NextWordPredictor, contexts: [[Int32]]) -> NextWordMetrics {
        var predictor = predictor
        let k = 3
        var metrics = NextWordMetrics()
        var top: [Int32] = []
        var logProbs: [Double] = []
        for context in contexts where !context.isEmpty {
            if top.count < context.count * k {
                top = [Int32](repeating: 0, count: context.count * k)
                logProbs = [Double](repeating: 0, count: context.count)
            }
            context.withUnsafeBufferPointer { ids in
                top.withUnsafeMutableBufferPointer { t in
                    logProbs.withUnsafeMutableBufferPointer { lp in
                        predictor.predictMessage(ids, k: k, topK: t, targetLogProbs: lp)
                    }
                }
            }
            let last = context.count - 1
            let target = context[last]
            metrics.predictions += 1
            metrics.inVocabularyPredictions += 1
            metrics.negativeLogLikelihood -= logProbs[last]
            if top[last * k] == target {
                metrics.hitsAt1 += 1
                metrics.hitsAt3 += 1
            } else if top[last * k + 1] == target || top[last * k + 2] == target {
                metrics.hitsAt3 += 1
            }
        }
        return metrics
    }
}

extension GlobalModel {
    /// The backdoor metric on `contexts`, or nil for a model kind that does not measure it
    /// (n-gram runs take no attack).
    func backdoorMetrics(_ contexts: [[Int32]]) -> NextWordMetrics? {
        (self as? NeuralGlobalModel)?.evaluateBackdoor(contexts)
    }
}
