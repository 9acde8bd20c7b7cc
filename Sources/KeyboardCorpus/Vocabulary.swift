/// An nwp-v1 vocabulary: the `V` most frequent training tokens plus four special symbols.
///
/// Ids: `0...3` are ``SpecialToken`` (`<pad> <unk> <s> </s>`), then the words in rank
/// order from id 4. Ranks break count ties by the token's UTF-8 bytes ascending, so the
/// vocabulary of a corpus and split is unique and its ``fingerprint`` can be compared
/// with any other implementation of nwp-v1.
public struct Vocabulary: Sendable, Equatable {
    /// The words in rank order; `words[r]` has id `r + 4`.
    public let words: [String]
    private let index: [String: Int32]

    /// Creates a vocabulary from words already in rank order.
    ///
    /// - Throws: ``CorpusError`` if a word repeats or is empty.
    public init(words: [String]) throws {
        var index: [String: Int32] = [:]
        index.reserveCapacity(words.count)
        for (rank, word) in words.enumerated() {
            guard !word.isEmpty else {
                throw CorpusError(.invalidSpec, "vocabulary word \(rank + 1) is empty", location: rank + 1)
            }
            guard index.updateValue(Int32(rank) + SpecialToken.firstWordID, forKey: word) == nil else {
                throw CorpusError(
                    .invalidSpec, "vocabulary word \(rank + 1) repeats an earlier word", location: rank + 1)
            }
        }
        self.words = words
        self.index = index
    }

    /// Builds the nwp-v1 vocabulary of `size` words from the given (training) messages.
    ///
    /// If the messages hold fewer than `size` distinct tokens, all of them are taken.
    /// - Throws: ``CorpusError/Code/invalidVocabularySize`` if `size < 1`.
    public init(countingMessages messages: some Sequence<Int>, of corpus: TokenizedCorpus, size: Int) throws {
        guard size >= 1 else {
            throw CorpusError(
                .invalidVocabularySize, "vocabulary size must be at least 1 (got \(size)); nwp-v1's default is 10000")
        }
        let counts = corpus.typeCounts(inMessages: messages)
        try self.init(words: Self.topWords(counts: counts, types: corpus.types, size: size))
    }

    /// The `size` most frequent words, ties by UTF-8 bytes ascending.
    static func topWords(counts: [Int], types: [String], size: Int) -> [String] {
        var seen = [(count: Int, type: Int)]()
        seen.reserveCapacity(types.count)
        for (t, c) in counts.enumerated() where c > 0 { seen.append((c, t)) }
        seen.sort { a, b in
            if a.count != b.count { return a.count > b.count }
            return types[a.type].utf8.lexicographicallyPrecedes(types[b.type].utf8)
        }
        return seen.prefix(size).map { types[$0.type] }
    }

    /// The number of ids: `V` words plus the four special symbols.
    public var count: Int { words.count + 4 }

    /// The id of `word`, or `<unk>` if it is not in the vocabulary.
    public func id(of word: String) -> Int32 {
        index[word] ?? SpecialToken.unk.rawValue
    }

    /// The id of `word`, or `nil` if it is not in the vocabulary.
    public func getID(of word: String) -> Int32? { index[word] }

    /// The word (or special symbol) with the given id.
    public func symbol(for id: Int32) -> String {
        if let special = SpecialToken(rawValue: id) { return special.symbol }
        return words[Int(id - SpecialToken.firstWordID)]
    }

    /// Maps every type id of `corpus` to this vocabulary's id (`<unk>` when absent).
    public func idsByType(of corpus: TokenizedCorpus) -> [Int32] {
        corpus.types.map { id(of: $0) }
    }

    /// The message's tokens as vocabulary ids.
    public func encode(message m: Int, of corpus: TokenizedCorpus, idsByType: [Int32]) -> [Int32] {
        corpus.tokens(ofMessage: m).map { idsByType[Int($0)] }
    }

    /// The nwp-v1 vocabulary fingerprint: SHA-256 of the words joined by `\n` in rank order,
    /// no trailing newline.
    public func fingerprint() -> String {
        var hasher = SHA256()
        for (r, w) in words.enumerated() {
            if r > 0 { hasher.update(CollectionOfOne(0x0A)) }
            hasher.update(w.utf8)
        }
        return hasher.finalizeHex()
    }

    public static func == (lhs: Vocabulary, rhs: Vocabulary) -> Bool { lhs.words == rhs.words }
}
