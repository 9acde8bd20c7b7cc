/// A synthetic corpus materialised, split and given its vocabulary as nwp-v1 says, with the
/// oracle's ceiling on its evaluation messages: everything a test needs to check that a
/// trained model stays below the best possible accuracy.
///
/// ```swift
/// let bench = try SyntheticBenchmark(spec: .english)
/// // train on bench.split.trainMessages of bench.text with bench.vocabulary, then
/// // compare the model's acc@1 with bench.ceiling.accuracy(.population, k: 1).
/// ```
public struct SyntheticBenchmark: Sendable {
    /// The generator.
    public let corpus: SyntheticCorpus
    /// The materialised text (users × days).
    public let text: TokenizedCorpus
    /// The nwp-v1 split of `text`.
    public let split: CorpusSplit
    /// The vocabulary of the training messages.
    public let vocabulary: Vocabulary
    /// Both oracles' figures on the evaluation messages.
    public let ceiling: SyntheticOracle.Report

    /// Materialises `spec` (users and days default to the spec's), splits it, builds the
    /// vocabulary and runs the oracle.
    ///
    /// - Throws: ``CorpusError`` for an invalid spec, non-positive sizes or too few users.
    public init(
        spec: SyntheticSpec, users: Int? = nil, days: Int? = nil, split kind: SplitKind = .users,
        vocabularySize: Int = 10_000, source: String? = nil
    ) throws {
        corpus = try SyntheticCorpus(spec: spec)
        text = try corpus.materialize(users: users, days: days, source: source)
        split = try CorpusSplit(kind, of: text)
        vocabulary = try Vocabulary(countingMessages: split.trainMessages, of: text, size: vocabularySize)
        ceiling = try SyntheticOracle(corpus: corpus).evaluate(text, split: split, vocabulary: vocabulary)
    }
}
