/// Which nwp-v1 split to evaluate on.
public enum SplitKind: String, CaseIterable, Sendable {
    /// Unseen users (the headline): users sorted as strings, every fifth from the first
    /// evaluates, the rest train.
    case users
    /// Personalisation: each user's first 80% of messages (rounded down) train, the rest
    /// evaluate.
    case perUser = "per-user"
}

/// A corpus's messages divided into training and evaluation, as nwp-v1 defines.
public struct CorpusSplit: Sendable, Equatable {
    /// The split rule.
    public let kind: SplitKind
    /// Training message indices, in corpus order.
    public let trainMessages: [Int]
    /// Evaluation message indices, in corpus order.
    public let evalMessages: [Int]
    /// Users with at least one training message.
    public let trainUserCount: Int
    /// Users with at least one evaluation message.
    public let evalUserCount: Int
    /// For the user split: whether each user (by index into ``TokenizedCorpus/userIDs``)
    /// is an evaluation user. For the per-user split every user has both roles.
    public let isEvalUser: [Bool]

    /// Splits `corpus` by `kind`.
    ///
    /// - Throws: ``CorpusError`` with ``CorpusError/Code/emptyCorpus`` for a corpus without
    ///   messages, and ``CorpusError/Code/tooFewUsers`` when either side would be empty.
    public init(_ kind: SplitKind, of corpus: TokenizedCorpus) throws {
        guard corpus.messageCount > 0 else {
            throw CorpusError(
                .emptyCorpus,
                "the corpus has no non-empty message, so there is nothing to split; check the input file and its format (--format)",
                path: corpus.provenance.source)
        }
        self.kind = kind
        switch kind {
        case .users:
            let order = corpus.userIDs.indices.sorted {
                corpus.userIDs[$0].utf8.lexicographicallyPrecedes(corpus.userIDs[$1].utf8)
            }
            var isEval = [Bool](repeating: false, count: corpus.userCount)
            for (position, user) in order.enumerated() where position % 5 == 0 { isEval[user] = true }
            var train: [Int] = []
            var eval: [Int] = []
            for m in 0..<corpus.messageCount {
                if isEval[Int(corpus.messageUsers[m])] { eval.append(m) } else { train.append(m) }
            }
            let evalUsers = isEval.filter { $0 }.count
            guard evalUsers < corpus.userCount else {
                throw CorpusError(
                    .tooFewUsers,
                    "the user-level split needs at least 2 users (every fifth user evaluates, the rest train) but the corpus has \(corpus.userCount); use --split per-user for a single user's text",
                    path: corpus.provenance.source)
            }
            trainMessages = train
            evalMessages = eval
            trainUserCount = corpus.userCount - evalUsers
            evalUserCount = evalUsers
            isEvalUser = isEval
        case .perUser:
            var perUser = [[Int]](repeating: [], count: corpus.userCount)
            for m in 0..<corpus.messageCount { perUser[Int(corpus.messageUsers[m])].append(m) }
            var isTrain = [Bool](repeating: false, count: corpus.messageCount)
            var trainUsers = 0
            var evalUsers = 0
            for messages in perUser {
                let cut = messages.count * 8 / 10
                for m in messages.prefix(cut) { isTrain[m] = true }
                if cut > 0 { trainUsers += 1 }
                if cut < messages.count { evalUsers += 1 }
            }
            trainMessages = (0..<corpus.messageCount).filter { isTrain[$0] }
            evalMessages = (0..<corpus.messageCount).filter { !isTrain[$0] }
            guard !trainMessages.isEmpty else {
                throw CorpusError(
                    .tooFewUsers,
                    "the per-user split leaves no training message (each user's first 80% train, rounded down, so a user needs at least 2 messages)",
                    path: corpus.provenance.source)
            }
            trainUserCount = trainUsers
            evalUserCount = evalUsers
            isEvalUser = [Bool](repeating: true, count: corpus.userCount)
        }
    }
}
