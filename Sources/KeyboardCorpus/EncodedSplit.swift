/// A corpus split encoded with its training vocabulary: what every model trains and is
/// scored on.
public struct EncodedSplit: Sendable {
    /// The split the messages come from.
    public let split: CorpusSplit
    /// The vocabulary built from the training messages only (nwp-v1).
    public let vocabulary: Vocabulary
    /// Training messages as vocabulary ids, in corpus order.
    public let trainMessages: [[Int32]]
    /// Evaluation messages as vocabulary ids, in corpus order.
    public let evalMessages: [[Int32]]

    /// Splits `corpus`, builds the vocabulary from the training side and encodes both sides.
    ///
    /// - Throws: ``CorpusError`` for an empty corpus, too few users, or `vocabularySize < 1`.
    public init(corpus: TokenizedCorpus, split kind: SplitKind, vocabularySize: Int) throws {
        guard vocabularySize >= 1 else {
            throw CorpusError(
                .invalidVocabularySize,
                "vocabulary size must be at least 1 (got \(vocabularySize)); nwp-v1's default is 10000")
        }
        let split = try CorpusSplit(kind, of: corpus)
        let vocabulary = try Vocabulary(countingMessages: split.trainMessages, of: corpus, size: vocabularySize)
        let idsByType = vocabulary.idsByType(of: corpus)
        self.split = split
        self.vocabulary = vocabulary
        trainMessages = split.trainMessages.map { vocabulary.encode(message: $0, of: corpus, idsByType: idsByType) }
        evalMessages = split.evalMessages.map { vocabulary.encode(message: $0, of: corpus, idsByType: idsByType) }
    }

    /// Evaluation targets (tokens of evaluation messages).
    public var evalTokenCount: Int { evalMessages.reduce(0) { $0 + $1.count } }
    /// Evaluation targets that are in the vocabulary.
    public var evalInVocabularyCount: Int {
        evalMessages.reduce(0) { $0 + $1.lazy.filter { $0 != SpecialToken.unk.rawValue }.count }
    }
}
