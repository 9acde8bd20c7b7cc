package import FederatedCore
internal import Foundation

/// A synthetic keyboard corpus generated on demand from a ``SyntheticSpec``.
///
/// Only the process's global tables are built (the Zipf law, topic first-word lists and
/// collocations, about 1 MB for the default spec); successor lists, users' hidden parameters
/// and messages are recomputed from hashes of `(seed, …)` whenever they are asked for, so
/// the text of a million users is never stored. Everything is deterministic in the spec:
/// ``messages(user:day:)`` depends on `(seed, user, day)` only.
///
/// Words are indices into the lexicon, `0` the most probable under the Zipf law;
/// ``word(_:)`` spells them as pronounceable lower-case ASCII pseudo-words (valid nwp-v1
/// tokens, distinct for distinct indices; frequent words are short).
public struct SyntheticCorpus: Sendable {
    /// The spec this corpus follows.
    public let spec: SyntheticSpec
    /// Population topic weights `π` (sum 1).
    public let topicWeights: [Double]
    /// Global Zipf probabilities by word index (sum 1).
    package let unigram: [Double]
    package let unigramCumulative: [Double]
    /// Per topic: the first-word list by slot.
    package let firstWordSlots: [[Int32]]
    package let firstWordSlotCumulative: [Double]
    package let firstWordSlotWeights: [Double]
    package let successorSlotCumulative: [Double]
    package let successorSlotWeights: [Double]
    /// Per topic: collocations (word sequences) and their cumulative weights.
    package let collocations: [[[Int32]]]
    package let collocationWeights: [Double]
    package let collocationCumulative: [Double]
    package let lengthCumulative: [Double]

    /// The hidden parameters of one user.
    public struct UserProfile: Sendable, Equatable {
        /// The user's topic mixture `θ_u` (sum 1).
        public var topicMixture: [Double]
        /// Mean messages per day `λ_u`.
        public var messageRate: Double
        /// The user's personal phrases, as word indices.
        public var personalPhrases: [[Int32]]
    }

    /// Builds the global tables of `spec`.
    ///
    /// - Throws: ``CorpusError/Code/invalidSpec`` if the spec is out of range.
    public init(spec: SyntheticSpec) throws {
        try spec.validate()
        self.spec = spec
        unigram = zipfWeights(count: spec.vocabularySize, exponent: spec.zipfExponent)
        unigramCumulative = cumulativeSums(unigram)
        topicWeights = zipfWeights(count: spec.topics, exponent: spec.topicZipfExponent)
        firstWordSlotWeights = zipfWeights(count: spec.firstWords, exponent: spec.successorZipfExponent)
        firstWordSlotCumulative = cumulativeSums(firstWordSlotWeights)
        successorSlotWeights = zipfWeights(count: spec.successors, exponent: spec.successorZipfExponent)
        successorSlotCumulative = cumulativeSums(successorSlotWeights)
        collocationWeights =
            spec.collocationsPerTopic > 0 ? zipfWeights(count: spec.collocationsPerTopic, exponent: 1) : []
        collocationCumulative = cumulativeSums(collocationWeights)
        // Message length: 1 + geometric with mean `meanMessageLength`, cut at the maximum.
        let q = 1 / spec.meanMessageLength
        var lengthWeights = (1...spec.maxMessageLength).map { q * Foundation.pow(1 - q, Double($0 - 1)) }
        lengthWeights[lengthWeights.count - 1] += max(0, 1 - lengthWeights.reduce(0, +))
        lengthCumulative = cumulativeSums(lengthWeights)
        var firsts: [[Int32]] = []
        var collocs: [[[Int32]]] = []
        for z in 0..<spec.topics {
            var rng = SplitMix64(seed: spec.seed, streams: 1, UInt64(z))
            let cdf = unigramCumulative
            firsts.append((0..<spec.firstWords).map { _ in Int32(rng.nextIndex(cumulative: cdf)) })
            collocs.append(
                (0..<spec.collocationsPerTopic).map { _ in
                    let span = spec.maxCollocationLength - spec.minCollocationLength + 1
                    let length = spec.minCollocationLength + Int(rng.next() % UInt64(span))
                    return (0..<length).map { _ in Int32(rng.nextIndex(cumulative: cdf)) }
                })
        }
        firstWordSlots = firsts
        collocations = collocs
    }

    /// The built-in default corpus (``SyntheticSpec/english``).
    public static func english() -> SyntheticCorpus {
        // The built-in spec is validated by a test, so this cannot fail.
        try! SyntheticCorpus(spec: .english)
    }

    // MARK: Words

    private static let consonants = Array("bdfghklmnprstvwz".utf8)
    private static let vowels = Array("aeiou".utf8)

    /// The spelling of word `index`: consonant–vowel syllables in bijective base 80, so
    /// every index has its own word and the 80 most frequent words have one syllable.
    public func word(_ index: Int32) -> String { Self.spell(Int(index)) }

    /// The spelling of any non-negative index (see ``word(_:)``).
    public static func spell(_ index: Int) -> String {
        precondition(index >= 0, "word index must be non-negative")
        var bytes: [UInt8] = []
        var n = index
        repeat {
            let syllable = n % 80
            bytes.append(consonants[syllable / 5])
            bytes.append(vowels[syllable % 5])
            n = n / 80 - 1
        } while n >= 0
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Hidden parameters

    /// The successor list of `word` in `topic`, by slot (slot `i` has weight
    /// `successorSlotWeights[i]`); words may repeat across slots.
    package func successorSlots(topic: Int, word: Int32) -> [Int32] {
        var rng = SplitMix64(seed: spec.seed, streams: 2, UInt64(topic), UInt64(word))
        var slots = [Int32](repeating: 0, count: spec.successors)
        for i in slots.indices { slots[i] = Int32(rng.nextIndex(cumulative: unigramCumulative)) }
        return slots
    }

    /// The hidden parameters of user `user` (a function of `(seed, user)` only).
    public func profile(user: Int) -> UserProfile {
        var rng = SplitMix64(seed: spec.seed, streams: 3, UInt64(user))
        var theta = topicWeights.map { rng.nextGamma(shape: spec.topicConcentration * $0) }
        var total = theta.reduce(0, +)
        if !(total > 0) {
            // Every gamma underflowed (tiny concentration): the user keeps one topic.
            theta = [Double](repeating: 0, count: spec.topics)
            theta[rng.nextIndex(cumulative: cumulativeSums(topicWeights))] = 1
            total = 1
        }
        for i in theta.indices { theta[i] /= total }
        let sigma = spec.messageRateSpread
        let rate = spec.meanMessagesPerDay * Foundation.exp(sigma * rng.nextNormal() - sigma * sigma / 2)
        let span = spec.maxPersonalPhraseLength - spec.minPersonalPhraseLength + 1
        let phrases: [[Int32]] = (0..<spec.personalPhrases).map { _ in
            let length = spec.minPersonalPhraseLength + Int(rng.next() % UInt64(span))
            return (0..<length).map { _ in Int32(rng.nextIndex(cumulative: unigramCumulative)) }
        }
        return UserProfile(topicMixture: theta, messageRate: rate, personalPhrases: phrases)
    }

    // MARK: Messages

    /// The messages user `user` typed on day `day`, as word indices.
    ///
    /// Deterministic in `(seed, user, day)`; the count is Poisson with the user's rate.
    public func messageIndices(user: Int, day: Int) -> [[Int32]] {
        let profile = profile(user: user)
        var rng = SplitMix64(seed: spec.seed, streams: 4, UInt64(user), UInt64(bitPattern: Int64(day)))
        let count = rng.nextPoisson(mean: profile.messageRate)
        return (0..<count).map { _ in generateMessage(profile: profile, using: &rng) }
    }

    /// The messages user `user` typed on day `day`, as nwp-v1 tokens.
    public func messages(user: Int, day: Int) -> [[String]] {
        messageIndices(user: user, day: day).map { $0.map(word) }
    }

    /// The messages of `user` on the `days` days before `day` (days `day - days ..< day`),
    /// oldest first: what a production keyboard caches for on-device training.
    public func recentMessages(user: Int, before day: Int, days: Int) -> [[String]] {
        precondition(days >= 0, "days must be non-negative")
        return (day - days..<day).flatMap { messages(user: user, day: $0) }
    }

    /// One message of a user with hidden parameters `profile`.
    package func generateMessage(profile: UserProfile, using rng: inout SplitMix64) -> [Int32] {
        let z = rng.nextIndex(cumulative: cumulativeSums(profile.topicMixture))
        let length = rng.nextIndex(cumulative: lengthCumulative) + 1
        var out: [Int32] = []
        out.reserveCapacity(length)
        if !profile.personalPhrases.isEmpty, rng.nextUnitDouble() < spec.personalPhraseProbability {
            let j = Int(rng.next() % UInt64(profile.personalPhrases.count))
            out.append(contentsOf: profile.personalPhrases[j].prefix(length))
        }
        while out.count < length {
            let u = rng.nextUnitDouble()
            if u < spec.collocationProbability {
                let k = rng.nextIndex(cumulative: collocationCumulative)
                out.append(contentsOf: collocations[z][k].prefix(length - out.count))
            } else if rng.nextUnitDouble() < spec.backoffProbability {
                out.append(Int32(rng.nextIndex(cumulative: unigramCumulative)))
            } else if let previous = out.last {
                let slots = successorSlots(topic: z, word: previous)
                out.append(slots[rng.nextIndex(cumulative: successorSlotCumulative)])
            } else {
                out.append(firstWordSlots[z][rng.nextIndex(cumulative: firstWordSlotCumulative)])
            }
        }
        return out
    }

    // MARK: Materialising

    /// The id of user `index` in materialised corpora: `u` and at least seven digits, so
    /// ids sort as strings in index order.
    public static func userID(_ index: Int) -> String {
        let digits = String(index)
        return "u" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits
    }

    /// The index of a materialised user id, or `nil` if `id` is not of that form.
    public static func userIndex(ofID id: String) -> Int? {
        guard id.hasPrefix("u"), id.count >= 8 else { return nil }
        return Int(id.dropFirst())
    }

    /// A finite corpus: users `0..<users`, each with its messages of days `0..<days`, in
    /// user-then-day order (user ids from ``userID(_:)``). Defaults come from the spec.
    ///
    /// - Throws: ``CorpusError/Code/invalidSpec`` for non-positive counts.
    public func materialize(users: Int? = nil, days: Int? = nil, source: String? = nil) throws -> TokenizedCorpus {
        let users = users ?? spec.users
        let days = days ?? spec.days
        guard users >= 1 else {
            throw CorpusError(.invalidSpec, "a synthetic corpus needs at least 1 user (got \(users))")
        }
        guard days >= 1 else {
            throw CorpusError(.invalidSpec, "a synthetic corpus needs at least 1 day (got \(days))")
        }
        var builder = TokenizedCorpusBuilder(format: "synthetic", source: source ?? spec.name)
        let spelled = (0..<spec.vocabularySize).map(Self.spell)
        for u in 0..<users {
            let id = Self.userID(u)
            for d in 0..<days {
                for message in messageIndices(user: u, day: d) {
                    builder.appendMessage(user: id, tokens: message.lazy.map { spelled[Int($0)] })
                }
            }
        }
        return builder.build()
    }
}
