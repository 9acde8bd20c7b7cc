/// Builds a ``TokenizedCorpus`` one message at a time, interning users and tokens.
///
/// Readers feed raw text through ``appendMessage(user:text:)``, which applies the nwp-v1
/// tokenizer; generators that already produce tokens use ``appendMessage(user:tokens:)``.
public struct TokenizedCorpusBuilder {
    private var corpus = TokenizedCorpus()
    private var userIndex: [String: UInt32] = [:]
    private var typeIndex: [String: UInt32] = [:]

    /// Starts an empty corpus with the given provenance (format and source).
    public init(format: String, source: String) {
        corpus.provenance = CorpusProvenance(format: format, source: source)
    }

    /// Tokenizes `text` with ``NWPTokenizer`` and appends it as one message of `user`.
    ///
    /// A message with no token is counted in ``CorpusProvenance/emptyMessages`` and dropped.
    public mutating func appendMessage(user: String, text: String) {
        corpus.provenance.messagesRead += 1
        let before = corpus.tokens.count
        NWPTokenizer.forEachToken(in: text) { corpus.tokens.append(intern($0)) }
        finishMessage(user: user, startedAt: before)
    }

    /// Appends a message whose tokens are already nwp-v1 tokens (lower-case, NFC, no
    /// separators). Used by generators; readers of raw text use ``appendMessage(user:text:)``.
    public mutating func appendMessage(user: String, tokens: some Sequence<String>) {
        corpus.provenance.messagesRead += 1
        let before = corpus.tokens.count
        for token in tokens { corpus.tokens.append(intern(token)) }
        finishMessage(user: user, startedAt: before)
    }

    /// Returns the corpus built so far.
    public func build() -> TokenizedCorpus { corpus }

    private mutating func finishMessage(user: String, startedAt before: Int) {
        guard corpus.tokens.count > before else {
            corpus.provenance.emptyMessages += 1
            return
        }
        let u: UInt32
        if let known = userIndex[user] {
            u = known
        } else {
            u = UInt32(corpus.userIDs.count)
            userIndex[user] = u
            corpus.userIDs.append(user)
        }
        corpus.messageUsers.append(u)
        corpus.messageStarts.append(corpus.tokens.count)
    }

    private mutating func intern(_ token: String) -> UInt32 {
        if let id = typeIndex[token] { return id }
        let id = UInt32(corpus.types.count)
        typeIndex[token] = id
        corpus.types.append(token)
        return id
    }
}
