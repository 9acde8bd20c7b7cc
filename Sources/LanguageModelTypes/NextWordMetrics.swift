internal import Foundation

/// The nwp-v1 figures of one evaluation: `acc@1`, `acc@3`, `acc@1-iv` and `ppl`.
///
/// Sums are kept, not ratios, so partial results from several threads or devices merge
/// exactly with ``merge(_:)``.
public struct NextWordMetrics: Sendable, Equatable, Codable {
    /// Token positions predicted (every token of every evaluation message).
    public var predictions: Int = 0
    /// Predictions whose target is in the vocabulary.
    public var inVocabularyPredictions: Int = 0
    /// Targets that were the top suggestion.
    public var hitsAt1: Int = 0
    /// Targets among the top three suggestions.
    public var hitsAt3: Int = 0
    /// Sum of −ln p(target) over all predictions (`<unk>` scored as one symbol).
    public var negativeLogLikelihood: Double = 0

    public init() {}

    /// hits@1 / predictions.
    public var accuracyAt1: Double { predictions > 0 ? Double(hitsAt1) / Double(predictions) : 0 }
    /// hits@3 / predictions.
    public var accuracyAt3: Double { predictions > 0 ? Double(hitsAt3) / Double(predictions) : 0 }
    /// hits@1 / in-vocabulary predictions (an OOV target can never be a hit).
    public var accuracyAt1InVocabulary: Double {
        inVocabularyPredictions > 0 ? Double(hitsAt1) / Double(inVocabularyPredictions) : 0
    }
    /// exp(mean −ln p(target)).
    public var perplexity: Double { predictions > 0 ? exp(negativeLogLikelihood / Double(predictions)) : .nan }
    /// The share of targets outside the vocabulary.
    public var outOfVocabularyRate: Double {
        predictions > 0 ? Double(predictions - inVocabularyPredictions) / Double(predictions) : 0
    }

    /// Adds another evaluation's sums to these.
    public mutating func merge(_ other: NextWordMetrics) {
        predictions += other.predictions
        inVocabularyPredictions += other.inVocabularyPredictions
        hitsAt1 += other.hitsAt1
        hitsAt3 += other.hitsAt3
        negativeLogLikelihood += other.negativeLogLikelihood
    }
}
