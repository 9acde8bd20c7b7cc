/// A corpus as users → messages → tokens, in a compact, cache-friendly form.
///
/// Tokens are interned: `types` holds each distinct token string once and `tokens` holds
/// type ids for every message concatenated in corpus order, so a million messages cost a
/// few bytes per token and reload from the cache with a single read. Only non-empty
/// messages are kept (nwp-v1 removes empty messages before any split or count); how many
/// were read and dropped is kept in ``provenance``.
public struct TokenizedCorpus: Sendable {
    /// Distinct user ids, in order of first appearance.
    public internal(set) var userIDs: [String] = []
    /// Distinct token strings; a type id indexes this array.
    public internal(set) var types: [String] = []
    /// Type ids of all messages, concatenated in corpus order.
    public internal(set) var tokens: [UInt32] = []
    /// Message `m` spans `tokens[messageStarts[m] ..< messageStarts[m + 1]]`.
    public internal(set) var messageStarts: [Int] = [0]
    /// The index into ``userIDs`` of each message's user.
    public internal(set) var messageUsers: [UInt32] = []
    /// Where the corpus came from and what was dropped on the way.
    public var provenance = CorpusProvenance()

    public init() {}

    /// The number of (non-empty) messages.
    public var messageCount: Int { messageUsers.count }
    /// The number of tokens over all messages.
    public var tokenCount: Int { tokens.count }
    /// The number of distinct users with at least one non-empty message.
    public var userCount: Int { userIDs.count }

    /// The type ids of message `m`.
    public func tokens(ofMessage m: Int) -> ArraySlice<UInt32> {
        tokens[messageStarts[m]..<messageStarts[m + 1]]
    }

    /// The token strings of message `m`.
    public func words(ofMessage m: Int) -> [String] {
        tokens(ofMessage: m).map { types[Int($0)] }
    }

    /// How often each type occurs in the given messages; indexed by type id.
    public func typeCounts(inMessages messages: some Sequence<Int>) -> [Int] {
        var counts = [Int](repeating: 0, count: types.count)
        tokens.withUnsafeBufferPointer { toks in
            for m in messages {
                for t in toks[messageStarts[m]..<messageStarts[m + 1]] { counts[Int(t)] += 1 }
            }
        }
        return counts
    }

    /// The nwp-v1 corpus fingerprint: SHA-256 (lower-case hex) over `USER\tTOK TOK …\n` for
    /// every non-empty message in corpus order.
    public func fingerprint() -> String {
        var hasher = SHA256()
        var line: [UInt8] = []
        for m in 0..<messageCount {
            line.removeAll(keepingCapacity: true)
            line.append(contentsOf: userIDs[Int(messageUsers[m])].utf8)
            line.append(0x09)
            var first = true
            for t in tokens(ofMessage: m) {
                if !first { line.append(0x20) }
                first = false
                line.append(contentsOf: types[Int(t)].utf8)
            }
            line.append(0x0A)
            hasher.update(line)
        }
        return hasher.finalizeHex()
    }
}

/// Where a corpus came from and what its reader dropped.
public struct CorpusProvenance: Sendable, Equatable {
    /// A short name of the format, e.g. `nus-sms-xml`, `jsonl`, `synthetic`.
    public var format: String = ""
    /// The path or spec the corpus was read from.
    public var source: String = ""
    /// Messages (records, lines, turns) read, including empty ones.
    public var messagesRead: Int = 0
    /// Messages that had no nwp-v1 token and were removed.
    public var emptyMessages: Int = 0

    public init(format: String = "", source: String = "", messagesRead: Int = 0, emptyMessages: Int = 0) {
        self.format = format
        self.source = source
        self.messagesRead = messagesRead
        self.emptyMessages = emptyMessages
    }
}
