public import FederationProtocol
public import Fleet
import Foundation
public import KeyboardCorpus
public import LanguageModelTypes

/// The text of a federated run: which words each virtual phone has typed, and the
/// evaluation users the server scores the global model on (nwp-v1, user split).
///
/// Devices only ever see training users' text. Evaluation users are those of the nwp-v1
/// user split of the corpus (every fifth user in id order), exactly as `kbd-sim eval` and
/// `kbd-sim train` score them, so federated and centralized figures compare directly.
///
/// - File corpora (NUS SMS, …): device `d` holds the training messages of training user
///   `d mod U` (all of them: the corpus has no dates).
/// - Synthetic corpora: device `d` types as text user `t = textUser(d)`, mapped to corpus
///   user `5⌊t/4⌋ + t mod 4 + 1` so that no device is ever an evaluation user (those are
///   the multiples of 5), and trains on its last ``RunConfiguration/trainingDays`` days
///   before the device's local day; the evaluation users are those of the corpus
///   materialised with the spec's users and days, as in every other command.
public struct FederatedDataset: Sendable {
    /// The vocabulary (from the training side only).
    public let vocabulary: Vocabulary
    /// Evaluation messages as vocabulary ids.
    public let evalMessages: [[Int32]]
    /// The corpus user of each evaluation message (per-user figures).
    public let evalUsers: UserGrouping
    /// Per evaluation user, the text on-phone personalization fine-tunes on and the text it is
    /// scored on (``PersonalizationText``).
    public let personalization: [PersonalizationText]
    /// Where device text comes from.
    let source: Source
    /// Days of recent text a synthetic device trains on.
    public let trainingDays: Int

    enum Source: Sendable {
        /// Per training user, their training messages as ids.
        case file(users: [[[Int32]]])
        /// Generated text; `ids[w]` is the vocabulary id of synthetic word `w`.
        case synthetic(SyntheticCorpus, ids: [Int32])
    }

    /// Loads the corpus of `configuration` and builds the vocabulary and evaluation side.
    ///
    /// - Throws: ``FederationError`` or ``CorpusError`` for an unusable corpus.
    public init(configuration: RunConfiguration, loader: CorpusLoader = CorpusLoader()) throws {
        trainingDays = configuration.trainingDays
        if let spec = try SyntheticSpec.resolve(corpusArgument: configuration.corpus) {
            let corpus = try SyntheticCorpus(spec: spec)
            let materialized = try corpus.materialize(source: configuration.corpus)
            let split = try EncodedSplit(
                corpus: materialized, split: .users, vocabularySize: configuration.vocabularySize)
            vocabulary = split.vocabulary
            evalMessages = split.evalMessages
            evalUsers = Self.grouping(split, materialized)
            personalization = Self.personalizationText(split, materialized)
            let ids = (0..<spec.vocabularySize).map { split.vocabulary.id(of: SyntheticCorpus.spell($0)) }
            source = .synthetic(corpus, ids: ids)
        } else {
            let format = try configuration.format.map { name throws(FederationError) -> CorpusFormat in
                guard let f = CorpusFormat(rawValue: name) else {
                    throw FederationError(
                        .invalidConfiguration,
                        "unknown corpus format '\(name)'; use \(CorpusFormat.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                return f
            }
            let corpus = try loader.load(path: configuration.corpus, format: format)
            let split = try EncodedSplit(
                corpus: corpus, split: configuration.splitKind, vocabularySize: configuration.vocabularySize)
            var byUser: [Int: [[Int32]]] = [:]
            for (position, m) in split.split.trainMessages.enumerated() {
                byUser[Int(corpus.messageUsers[m]), default: []].append(split.trainMessages[position])
            }
            let users = Self.trainingUsers(of: split, in: corpus).map { byUser[$0]! }
            guard !users.isEmpty else {
                throw FederationError(
                    .unusableCorpus,
                    "\(configuration.corpus): no training user has a message, so no device has text to train on")
            }
            vocabulary = split.vocabulary
            evalMessages = split.evalMessages
            evalUsers = Self.grouping(split, corpus)
            personalization = Self.personalizationText(split, corpus)
            source = .file(users: users)
        }
    }

    static func grouping(_ split: EncodedSplit, _ corpus: TokenizedCorpus) -> UserGrouping {
        UserGrouping(userOfMessage: split.split.evalMessages.map { Int32(corpus.messageUsers[$0]) })
    }

    /// Each evaluation user's own text, divided as the per-user split of nwp-v1 divides it:
    /// under the per-user split, the user's training messages (their first 80%) and their
    /// evaluation messages (the rest); under the user split, whose evaluation users have no
    /// training text, the first 80% (rounded down) of the user's evaluation messages and the rest.
    static func personalizationText(_ split: EncodedSplit, _ corpus: TokenizedCorpus) -> [PersonalizationText] {
        var own: [Int: (train: [[Int32]], eval: [[Int32]])] = [:]
        for (position, m) in split.split.evalMessages.enumerated() {
            own[Int(corpus.messageUsers[m]), default: ([], [])].eval.append(split.evalMessages[position])
        }
        if split.split.kind == .perUser {
            for (position, m) in split.split.trainMessages.enumerated() {
                let user = Int(corpus.messageUsers[m])
                if own[user] != nil { own[user]!.train.append(split.trainMessages[position]) }
            }
        }
        return own.keys.sorted().compactMap { user in
            let (train, eval) = own[user]!
            if split.split.kind == .perUser {
                return train.isEmpty ? nil : PersonalizationText(user: user, fineTune: train, score: eval)
            }
            let cut = eval.count * 8 / 10
            guard cut > 0, cut < eval.count else { return nil }
            return PersonalizationText(user: user, fineTune: Array(eval[..<cut]), score: Array(eval[cut...]))
        }
    }

    /// The corpus users (indices) of a file corpus's training side, ascending: device `d` of a
    /// federated run on it holds the text of user `trainingUsers[d mod count]`.
    public static func trainingUsers(of split: EncodedSplit, in corpus: TokenizedCorpus) -> [Int] {
        Set(split.split.trainMessages.map { Int(corpus.messageUsers[$0]) }).sorted()
    }

    /// How much of a file corpus's training text the phones `devices` hold: distinct users
    /// and their messages, against all training users and messages (nil for synthetic
    /// corpora, whose phones type endless text).
    public func coverage(ofDevices devices: some Sequence<Int>) -> TextCoverage? {
        guard case .file(let users) = source else { return nil }
        var reached = [Bool](repeating: false, count: users.count)
        for d in devices where d >= 0 { reached[d % users.count] = true }
        var coverage = TextCoverage(users: 0, trainingUsers: users.count, messages: 0, trainingMessages: 0)
        for (u, messages) in users.enumerated() {
            coverage.trainingMessages += messages.count
            if reached[u] {
                coverage.users += 1
                coverage.messages += messages.count
            }
        }
        return coverage
    }

    /// Training users of a file corpus (nil for synthetic corpora, whose users are unbounded).
    public var trainingUserCount: Int? {
        if case .file(let users) = source { return users.count }
        return nil
    }

    /// The corpus user a synthetic text user types as (never an evaluation user).
    static func syntheticTrainingUser(_ textUser: Int) -> Int { 5 * (textUser / 4) + textUser % 4 + 1 }

    /// The messages device `device` has cached for training at virtual `time`, as ids.
    ///
    /// - Parameter sinceDay: for synthetic corpora, only days after this local day (the
    ///   n-gram client's "typed since my last upload"); for file corpora any value means
    ///   "already uploaded everything" and returns nothing.
    public func trainingMessages(of device: Int, at time: Int, population: DevicePopulation, sinceDay: Int? = nil)
        -> [[Int32]]
    {
        switch source {
        case .file(let users):
            if sinceDay != nil { return [] }
            return users[device % users.count]
        case .synthetic(let corpus, let ids):
            let user = Self.syntheticTrainingUser(Int(population.textUser[device]))
            let today = population.localDay(device, at: time)
            var first = today - trainingDays
            if let sinceDay { first = max(first, sinceDay + 1) }
            var messages: [[Int32]] = []
            guard first < today else { return messages }
            for day in first..<today {
                for m in corpus.messageIndices(user: user, day: day) {
                    messages.append(m.map { ids[Int($0)] })
                }
            }
            return messages
        }
    }

    /// The local day a device's text is current to at `time` (for ``trainingMessages(of:at:population:sinceDay:)``).
    public func currentDay(of device: Int, at time: Int, population: DevicePopulation) -> Int {
        population.localDay(device, at: time) - 1
    }
}

/// One evaluation user's text for on-phone personalization: the global model is fine-tuned on
/// `fineTune` (as the user's phone would, on what they typed before) and scored on `score`.
public struct PersonalizationText: Sendable, Equatable {
    /// The corpus user index.
    public var user: Int
    public var fineTune: [[Int32]]
    public var score: [[Int32]]

    public init(user: Int, fineTune: [[Int32]], score: [[Int32]]) {
        self.user = user
        self.fineTune = fineTune
        self.score = score
    }
}

/// The share of a file corpus's training text that some phones hold.
public struct TextCoverage: Sendable, Equatable {
    /// Distinct training users among the phones.
    public var users: Int
    public var trainingUsers: Int
    /// Their training messages.
    public var messages: Int
    public var trainingMessages: Int

    /// `messages / trainingMessages`.
    public var messageShare: Double { trainingMessages > 0 ? Double(messages) / Double(trainingMessages) : 0 }
}

extension RunConfiguration {
    /// The nwp-v1 split the run's file corpus is divided by (``split``; users by default).
    public var splitKind: SplitKind { split.flatMap(SplitKind.init(rawValue:)) ?? .users }
}
