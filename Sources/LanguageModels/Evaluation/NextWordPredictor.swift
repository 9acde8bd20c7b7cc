/// A model that can be scored under the nwp-v1 contract.
///
/// Both keyboard models (the Kneser-Ney n-gram model and the LSTM) conform, so one
/// evaluator computes `acc@1`, `acc@3`, `acc@1-iv` and `ppl` for either, with the same
/// code path and therefore the same definitions.
///
/// Ids follow ``KeyboardCorpus/SpecialToken``: `0...3` are `<pad> <unk> <s> </s>` and words
/// start at 4 in rank order.
public protocol NextWordPredictor {
    /// The number of ids the model knows: `V` words plus the four special symbols.
    var vocabularyCount: Int { get }

    /// Predicts every position of one message.
    ///
    /// Row `i` is the prediction of `ids[i]` from the context `<s> ids[0..<i]`: the `k`
    /// highest-scoring word ids (never a special symbol; equal scores ranked by the lower
    /// id, i.e. the more frequent word) and the natural log-probability of `ids[i]` itself
    /// under the model's distribution over words, `<unk>` and `</s>`.
    ///
    /// - Parameters:
    ///   - ids: the message's tokens as vocabulary ids (out-of-vocabulary words are `<unk>`),
    ///     without `<s>` or `</s>`.
    ///   - k: how many suggestions per position, `1...` the vocabulary size.
    ///   - topK: receives `ids.count * k` ids, row-major.
    ///   - targetLogProbs: receives `ids.count` log-probabilities (natural log).
    mutating func predictMessage(
        _ ids: UnsafeBufferPointer<Int32>,
        k: Int,
        topK: UnsafeMutableBufferPointer<Int32>,
        targetLogProbs: UnsafeMutableBufferPointer<Double>
    )
}
