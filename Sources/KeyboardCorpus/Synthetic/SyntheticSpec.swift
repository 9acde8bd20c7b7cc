internal import Foundation

/// The parameters of a synthetic keyboard corpus: a generative process whose best possible
/// next-word accuracy is known exactly (see ``SyntheticOracle``).
///
/// The process, for user `u` on day `d` (docs/fleet.md has the full definition):
/// - `θ_u ~ Dirichlet(topicConcentration · π)` over `topics` hidden topics, where `π` is a
///   Zipf law over topics with exponent `topicZipfExponent`;
/// - the user owns `personalPhrases` fixed phrases of `personalPhraseLength` words, each word
///   drawn from the global Zipf law;
/// - the day has `Poisson(λ_u)` messages, `λ_u = meanMessagesPerDay · LogNormal(0, messageRateSpread)`
///   with mean 1;
/// - a message draws its topic `z ~ θ_u` and its length `L` (1 + geometric, mean
///   `meanMessageLength`, cut at `maxMessageLength`), then emits `L` words: with probability
///   `personalPhraseProbability` it opens with one of the user's phrases (uniformly); after
///   that, at every free position, with probability `collocationProbability` a collocation of
///   topic `z` (a fixed multiword phrase) starts, otherwise with probability
///   `backoffProbability` a word from the global Zipf law, otherwise a word from topic `z`'s
///   first-word list (at the start) or from the topic's successor list of the previous word.
///
/// Every field can be set in a spec file (`corpora/synthetic-en.json`); absent fields take
/// the values of ``english``.
public struct SyntheticSpec: Codable, Sendable, Equatable {
    /// A short name for reports.
    public var name: String
    /// Seed of every random draw; the whole corpus is a function of the spec.
    public var seed: UInt64
    /// Words in the generator's lexicon (default 20,000, so a 10,000-word model meets OOV).
    public var vocabularySize: Int
    /// Exponent `s` of the global Zipf law `p(r) ∝ (r + 1)^-s`, `r` the word's rank.
    public var zipfExponent: Double
    /// Number of hidden topics.
    public var topics: Int
    /// Exponent of the Zipf law over topics that gives the population topic weights `π`.
    public var topicZipfExponent: Double
    /// Dirichlet concentration `α₀`: `θ_u ~ Dir(α₀ π)`. Small values make users specialise.
    public var topicConcentration: Double
    /// Size of each topic's first-word list (drawn from the Zipf law, Zipf-weighted by slot).
    public var firstWords: Int
    /// Size of each (topic, word) successor list (drawn from the Zipf law, Zipf-weighted by slot).
    public var successors: Int
    /// Exponent of the Zipf weights over slots of first-word and successor lists.
    public var successorZipfExponent: Double
    /// Probability that a free position emits a word from the global Zipf law.
    public var backoffProbability: Double
    /// Collocations (fixed multiword phrases) per topic, Zipf-weighted (exponent 1).
    public var collocationsPerTopic: Int
    /// Shortest collocation, in words (at least 2).
    public var minCollocationLength: Int
    /// Longest collocation, in words.
    public var maxCollocationLength: Int
    /// Probability that a free position starts a collocation.
    public var collocationProbability: Double
    /// Personal phrases per user (0 disables them).
    public var personalPhrases: Int
    /// Shortest personal phrase, in words (at least 1).
    public var minPersonalPhraseLength: Int
    /// Longest personal phrase, in words.
    public var maxPersonalPhraseLength: Int
    /// Probability that a message opens with one of its user's personal phrases.
    public var personalPhraseProbability: Double
    /// Mean message length in tokens (at least 1).
    public var meanMessageLength: Double
    /// Longest message in tokens.
    public var maxMessageLength: Int
    /// Mean messages per user per day.
    public var meanMessagesPerDay: Double
    /// Standard deviation of the log of a user's message rate (users differ in volume).
    public var messageRateSpread: Double
    /// Users when the corpus is materialised (``SyntheticCorpus/materialize(users:days:)``).
    public var users: Int
    /// Days per user when the corpus is materialised.
    public var days: Int

    /// The built-in default, mirrored by `corpora/synthetic-en.json` (a test checks they agree).
    public static let english = SyntheticSpec(
        name: "synthetic-en", seed: 20_260_101, vocabularySize: 20_000, zipfExponent: 1.0,
        topics: 12, topicZipfExponent: 0.6, topicConcentration: 0.8,
        firstWords: 300, successors: 24, successorZipfExponent: 1.1, backoffProbability: 0.2,
        collocationsPerTopic: 300, minCollocationLength: 2, maxCollocationLength: 4,
        collocationProbability: 0.12,
        personalPhrases: 4, minPersonalPhraseLength: 2, maxPersonalPhraseLength: 5,
        personalPhraseProbability: 0.25,
        meanMessageLength: 9, maxMessageLength: 40, meanMessagesPerDay: 12, messageRateSpread: 0.7,
        users: 1000, days: 7
    )

    /// Creates a spec from every field.
    public init(
        name: String, seed: UInt64, vocabularySize: Int, zipfExponent: Double,
        topics: Int, topicZipfExponent: Double, topicConcentration: Double,
        firstWords: Int, successors: Int, successorZipfExponent: Double, backoffProbability: Double,
        collocationsPerTopic: Int, minCollocationLength: Int, maxCollocationLength: Int,
        collocationProbability: Double,
        personalPhrases: Int, minPersonalPhraseLength: Int, maxPersonalPhraseLength: Int,
        personalPhraseProbability: Double,
        meanMessageLength: Double, maxMessageLength: Int, meanMessagesPerDay: Double, messageRateSpread: Double,
        users: Int, days: Int
    ) {
        self.name = name
        self.seed = seed
        self.vocabularySize = vocabularySize
        self.zipfExponent = zipfExponent
        self.topics = topics
        self.topicZipfExponent = topicZipfExponent
        self.topicConcentration = topicConcentration
        self.firstWords = firstWords
        self.successors = successors
        self.successorZipfExponent = successorZipfExponent
        self.backoffProbability = backoffProbability
        self.collocationsPerTopic = collocationsPerTopic
        self.minCollocationLength = minCollocationLength
        self.maxCollocationLength = maxCollocationLength
        self.collocationProbability = collocationProbability
        self.personalPhrases = personalPhrases
        self.minPersonalPhraseLength = minPersonalPhraseLength
        self.maxPersonalPhraseLength = maxPersonalPhraseLength
        self.personalPhraseProbability = personalPhraseProbability
        self.meanMessageLength = meanMessageLength
        self.maxMessageLength = maxMessageLength
        self.meanMessagesPerDay = meanMessagesPerDay
        self.messageRateSpread = messageRateSpread
        self.users = users
        self.days = days
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, vocabularySize, zipfExponent, topics, topicZipfExponent, topicConcentration
        case firstWords, successors, successorZipfExponent, backoffProbability
        case collocationsPerTopic, minCollocationLength, maxCollocationLength, collocationProbability
        case personalPhrases, minPersonalPhraseLength, maxPersonalPhraseLength, personalPhraseProbability
        case meanMessageLength, maxMessageLength, meanMessagesPerDay, messageRateSpread, users, days
    }

    /// Decodes a spec; absent fields take the value of ``english``, unknown fields are an error
    /// (a misspelt field would otherwise be silently ignored).
    public init(from decoder: any Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        let any = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = any.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: [unknown], debugDescription: "unknown field \"\(unknown.stringValue)\""))
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SyntheticSpec.english
        func v<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        self.init(
            name: try v(.name, d.name), seed: try v(.seed, d.seed),
            vocabularySize: try v(.vocabularySize, d.vocabularySize),
            zipfExponent: try v(.zipfExponent, d.zipfExponent),
            topics: try v(.topics, d.topics), topicZipfExponent: try v(.topicZipfExponent, d.topicZipfExponent),
            topicConcentration: try v(.topicConcentration, d.topicConcentration),
            firstWords: try v(.firstWords, d.firstWords), successors: try v(.successors, d.successors),
            successorZipfExponent: try v(.successorZipfExponent, d.successorZipfExponent),
            backoffProbability: try v(.backoffProbability, d.backoffProbability),
            collocationsPerTopic: try v(.collocationsPerTopic, d.collocationsPerTopic),
            minCollocationLength: try v(.minCollocationLength, d.minCollocationLength),
            maxCollocationLength: try v(.maxCollocationLength, d.maxCollocationLength),
            collocationProbability: try v(.collocationProbability, d.collocationProbability),
            personalPhrases: try v(.personalPhrases, d.personalPhrases),
            minPersonalPhraseLength: try v(.minPersonalPhraseLength, d.minPersonalPhraseLength),
            maxPersonalPhraseLength: try v(.maxPersonalPhraseLength, d.maxPersonalPhraseLength),
            personalPhraseProbability: try v(.personalPhraseProbability, d.personalPhraseProbability),
            meanMessageLength: try v(.meanMessageLength, d.meanMessageLength),
            maxMessageLength: try v(.maxMessageLength, d.maxMessageLength),
            meanMessagesPerDay: try v(.meanMessagesPerDay, d.meanMessagesPerDay),
            messageRateSpread: try v(.messageRateSpread, d.messageRateSpread),
            users: try v(.users, d.users), days: try v(.days, d.days)
        )
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Checks every field's range.
    ///
    /// - Throws: ``CorpusError/Code/invalidSpec`` naming the first bad field and its allowed range.
    public func validate(path: String? = nil) throws {
        func fail(_ field: String, _ rule: String, _ value: Any) -> CorpusError {
            CorpusError(.invalidSpec, "synthetic spec field \"\(field)\" must be \(rule) (got \(value))", path: path)
        }
        func probability(_ field: String, _ p: Double) throws {
            guard p >= 0, p <= 1, p.isFinite else { throw fail(field, "a probability in [0, 1]", p) }
        }
        guard vocabularySize >= 2, vocabularySize <= 5_000_000 else {
            throw fail("vocabularySize", "in 2...5000000", vocabularySize)
        }
        guard zipfExponent > 0, zipfExponent <= 4 else { throw fail("zipfExponent", "in (0, 4]", zipfExponent) }
        guard topics >= 1, topics <= 1000 else { throw fail("topics", "in 1...1000", topics) }
        guard topicZipfExponent >= 0, topicZipfExponent <= 4 else {
            throw fail("topicZipfExponent", "in [0, 4]", topicZipfExponent)
        }
        guard topicConcentration > 0, topicConcentration.isFinite else {
            throw fail("topicConcentration", "positive", topicConcentration)
        }
        guard firstWords >= 1, firstWords <= 100_000 else { throw fail("firstWords", "in 1...100000", firstWords) }
        guard successors >= 1, successors <= 10_000 else { throw fail("successors", "in 1...10000", successors) }
        guard successorZipfExponent >= 0, successorZipfExponent <= 4 else {
            throw fail("successorZipfExponent", "in [0, 4]", successorZipfExponent)
        }
        try probability("backoffProbability", backoffProbability)
        guard collocationsPerTopic >= 0, collocationsPerTopic <= 100_000 else {
            throw fail("collocationsPerTopic", "in 0...100000", collocationsPerTopic)
        }
        guard minCollocationLength >= 2 else { throw fail("minCollocationLength", "at least 2", minCollocationLength) }
        guard maxCollocationLength >= minCollocationLength, maxCollocationLength <= 20 else {
            throw fail("maxCollocationLength", "in minCollocationLength...20", maxCollocationLength)
        }
        try probability("collocationProbability", collocationProbability)
        if collocationsPerTopic == 0, collocationProbability > 0 {
            throw fail("collocationProbability", "0 when collocationsPerTopic is 0", collocationProbability)
        }
        guard personalPhrases >= 0, personalPhrases <= 100 else {
            throw fail("personalPhrases", "in 0...100", personalPhrases)
        }
        guard minPersonalPhraseLength >= 1 else {
            throw fail("minPersonalPhraseLength", "at least 1", minPersonalPhraseLength)
        }
        guard maxPersonalPhraseLength >= minPersonalPhraseLength, maxPersonalPhraseLength <= 20 else {
            throw fail("maxPersonalPhraseLength", "in minPersonalPhraseLength...20", maxPersonalPhraseLength)
        }
        try probability("personalPhraseProbability", personalPhraseProbability)
        if personalPhrases == 0, personalPhraseProbability > 0 {
            throw fail("personalPhraseProbability", "0 when personalPhrases is 0", personalPhraseProbability)
        }
        guard meanMessageLength >= 1, meanMessageLength <= 1000 else {
            throw fail("meanMessageLength", "in [1, 1000]", meanMessageLength)
        }
        guard maxMessageLength >= 1, maxMessageLength <= 10_000 else {
            throw fail("maxMessageLength", "in 1...10000", maxMessageLength)
        }
        guard meanMessagesPerDay > 0, meanMessagesPerDay <= 10_000 else {
            throw fail("meanMessagesPerDay", "in (0, 10000]", meanMessagesPerDay)
        }
        guard messageRateSpread >= 0, messageRateSpread <= 3 else {
            throw fail("messageRateSpread", "in [0, 3]", messageRateSpread)
        }
        guard users >= 1, users <= 9_999_999 else { throw fail("users", "in 1...9999999", users) }
        guard days >= 1, days <= 3650 else { throw fail("days", "in 1...3650", days) }
    }

    /// Reads and validates a spec file.
    ///
    /// - Throws: ``CorpusError`` with `fileNotFound`, `unreadable` or `invalidSpec` (bad JSON,
    ///   an unknown field, a wrong type or a value out of range), naming the path and field.
    public static func load(path: String) throws -> SyntheticSpec {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CorpusError(
                .fileNotFound, "synthetic spec not found; pass a JSON spec such as corpora/synthetic-en.json",
                path: path)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusError(.unreadable, "cannot read the synthetic spec (check permissions)", path: path)
        }
        return try decode(json: Array(data), path: path)
    }

    /// Decodes and validates a spec from JSON bytes (UTF-8).
    ///
    /// - Throws: ``CorpusError/Code/invalidSpec`` naming the bad field.
    public static func decode(json: [UInt8], path: String? = nil) throws -> SyntheticSpec {
        let spec: SyntheticSpec
        do {
            spec = try JSONDecoder().decode(SyntheticSpec.self, from: Data(json))
        } catch let error as DecodingError {
            throw CorpusError(
                .invalidSpec, "synthetic spec is not valid: \(Self.describe(error))", path: path, cause: error)
        } catch {
            throw CorpusError(.invalidSpec, "synthetic spec is not valid JSON", path: path, cause: error)
        }
        try spec.validate(path: path)
        return spec
    }

    /// The spec as pretty-printed JSON with sorted keys (the format of `corpora/*.json`).
    public func encodedJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String { c.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .typeMismatch(let t, let ctx): return "field \"\(path(ctx.codingPath))\" should be \(t)"
        case .valueNotFound(_, let ctx): return "field \"\(path(ctx.codingPath))\" is null"
        case .keyNotFound(let k, _): return "field \"\(k.stringValue)\" is missing"
        case .dataCorrupted(let ctx):
            let p = path(ctx.codingPath)
            return p.isEmpty ? "not valid JSON (\(ctx.debugDescription))" : "field \"\(p)\": \(ctx.debugDescription)"
        @unknown default: return "undecodable"
        }
    }
}

extension SyntheticSpec {
    /// The spec named by a `--corpus` value: `synthetic` is the built-in ``english`` spec,
    /// `synthetic:PATH` (or a bare path ending in `.json`) is read from `PATH`.
    ///
    /// - Returns: `nil` if `argument` names no synthetic corpus (so the caller tries others).
    /// - Throws: ``CorpusError`` if the named spec cannot be read or is invalid.
    public static func resolve(corpusArgument argument: String) throws -> SyntheticSpec? {
        if argument == "synthetic" { return .english }
        if argument.hasPrefix("synthetic:") { return try load(path: String(argument.dropFirst("synthetic:".count))) }
        return nil
    }
}
