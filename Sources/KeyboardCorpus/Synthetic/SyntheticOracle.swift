/// The Bayes-optimal next-word predictor of a synthetic corpus, and its nwp-v1 accuracy.
///
/// Because the generating process is known, the probability of the next word given the
/// message so far, `P(w | w₁…wₜ₋₁)`, can be computed exactly by a forward filter over the
/// process's hidden state: the message's topic `z`, and whether the position is free or
/// inside a collocation `(k, i)` or a personal phrase `(j, i)`. The previous word is observed,
/// so it is not part of the hidden state; the message length is independent of the words,
/// so knowing that a next word exists changes nothing.
///
/// Two oracles, differing in what they know about the user (docs/fleet.md):
/// - **personalised** (``Knowledge/user``): the user's hidden parameters — topic mixture
///   `θ_u` and personal phrases. The ceiling of a perfectly personalised model.
/// - **global** (``Knowledge/population``): only the population. `θ_u` is marginalised
///   (a message's topic prior is then `E[θ] = π`), and a personal phrase is a run of words
///   drawn i.i.d. from the Zipf law with a uniform length. The ceiling of one model shared
///   by all users that reads the message's own prefix (as nwp-v1 models do); a model that
///   also read a user's other messages could learn their phrases and beat it.
///
/// The nwp-v1 decision: the `k` in-vocabulary words with the highest posterior probability,
/// exact ties by vocabulary rank; out-of-vocabulary targets are misses. The oracle's hits on
/// the materialised evaluation messages are counted exactly (not sampled); the expected
/// hits `Σ P(chosen words)` are reported too. No predictor restricted to the same vocabulary
/// and context has a higher expected accuracy.
public struct SyntheticOracle: Sendable {
    /// What the oracle knows about the user who types.
    public enum Knowledge: Sendable, CaseIterable {
        /// The user's topic mixture and personal phrases (the personalisation ceiling).
        case user
        /// Only the population distribution of users (the ceiling of one global model).
        case population
    }

    /// Hits of one oracle on a set of predictions.
    public struct Accuracy: Sendable, Equatable {
        /// Positions whose target is the top-1 word.
        public var hitsAt1 = 0
        /// Positions whose target is among the top-3 words.
        public var hitsAt3 = 0
        /// `Σ P(top-1 word)` over positions: the expected number of top-1 hits.
        public var expectedHitsAt1 = 0.0
        /// `Σ P(top-3 words)` over positions.
        public var expectedHitsAt3 = 0.0
    }

    /// The oracle's nwp-v1 figures on the evaluation messages of a materialised corpus.
    public struct Report: Sendable, Equatable {
        /// Predictions made (every token of every evaluation message).
        public var predictions = 0
        /// Predictions whose target is in the vocabulary.
        public var inVocabularyTargets = 0
        /// The personalised oracle (knows each user's hidden parameters).
        public var personalised = Accuracy()
        /// The global oracle (knows only the population).
        public var global = Accuracy()

        /// `acc@k` of one oracle (`k` is 1 or 3).
        public func accuracy(_ knowledge: Knowledge, k: Int) -> Double {
            precondition(k == 1 || k == 3, "the oracle reports k = 1 and k = 3")
            let a = knowledge == .user ? personalised : global
            guard predictions > 0 else { return 0 }
            return Double(k == 1 ? a.hitsAt1 : a.hitsAt3) / Double(predictions)
        }

        /// Expected `acc@k` of one oracle (`Σ P(chosen) / predictions`).
        public func expectedAccuracy(_ knowledge: Knowledge, k: Int) -> Double {
            precondition(k == 1 || k == 3, "the oracle reports k = 1 and k = 3")
            let a = knowledge == .user ? personalised : global
            guard predictions > 0 else { return 0 }
            return (k == 1 ? a.expectedHitsAt1 : a.expectedHitsAt3) / Double(predictions)
        }
    }

    /// The corpus whose process this oracle inverts.
    public let corpus: SyntheticCorpus
    private let firstWordDistributions: [[(word: Int32, probability: Double)]]
    private let collocationsByFirstWord: [[Int32: [(k: Int32, weight: Double)]]]
    private let collocationFirstWords: [[(word: Int32, probability: Double)]]

    /// Prepares the oracle of `corpus`.
    public init(corpus: SyntheticCorpus) {
        self.corpus = corpus
        firstWordDistributions = corpus.firstWordSlots.map {
            Self.merge(slots: $0, weights: corpus.firstWordSlotWeights)
        }
        var byFirst: [[Int32: [(k: Int32, weight: Double)]]] = []
        var firsts: [[(word: Int32, probability: Double)]] = []
        for z in 0..<corpus.spec.topics {
            var table: [Int32: [(k: Int32, weight: Double)]] = [:]
            var mass: [Int32: Double] = [:]
            for (k, phrase) in corpus.collocations[z].enumerated() {
                table[phrase[0], default: []].append((Int32(k), corpus.collocationWeights[k]))
                mass[phrase[0], default: 0] += corpus.collocationWeights[k]
            }
            byFirst.append(table)
            firsts.append(mass.map { ($0.key, $0.value) }.sorted { $0.word < $1.word })
        }
        collocationsByFirstWord = byFirst
        collocationFirstWords = firsts
    }

    private static func merge(slots: [Int32], weights: [Double]) -> [(word: Int32, probability: Double)] {
        var mass: [Int32: Double] = [:]
        for (i, w) in slots.enumerated() { mass[w, default: 0] += weights[i] }
        return mass.map { ($0.key, $0.value) }.sorted { $0.word < $1.word }
    }

    // MARK: The forward filter

    /// A hidden state of the process between two words.
    struct HiddenState: Hashable {
        enum Kind: UInt8 { case start, free, collocation, personal, anonymousPersonal }
        var topic: Int32
        var kind: Kind
        /// Collocation `k`, personal phrase `j`, or the anonymous phrase's length.
        var item: Int32 = 0
        /// The position inside the phrase of the next word.
        var position: Int32 = 0
    }

    /// The filter: a probability distribution over hidden states given the words so far.
    struct Belief {
        var states: [HiddenState: Double]
        var previous: Int32?
    }

    private func initialBelief(profile: SyntheticCorpus.UserProfile?) -> Belief {
        let prior = profile?.topicMixture ?? corpus.topicWeights
        var states: [HiddenState: Double] = [:]
        for (z, p) in prior.enumerated() where p > 0 { states[HiddenState(topic: Int32(z), kind: .start)] = p }
        return Belief(states: states, previous: nil)
    }

    /// Successor distributions of (topic, word), cached by the caller.
    final class SuccessorCache {
        var table: [Int64: [(word: Int32, probability: Double)]] = [:]
    }

    private func successors(topic: Int, of word: Int32, cache: SuccessorCache) -> [(word: Int32, probability: Double)] {
        let key = Int64(topic) << 32 | Int64(word)
        if let hit = cache.table[key] { return hit }
        let merged = Self.merge(
            slots: corpus.successorSlots(topic: topic, word: word), weights: corpus.successorSlotWeights)
        if cache.table.count > 200_000 { cache.table.removeAll(keepingCapacity: true) }
        cache.table[key] = merged
        return merged
    }

    /// Accumulates the predictive distribution of the next word into `sparse` (dense by word
    /// index, with `touched` listing the non-zero entries) plus `unigramMass · Zipf(w)`.
    private func predict(
        _ belief: Belief, profile: SyntheticCorpus.UserProfile?, cache: SuccessorCache,
        sparse: inout [Double], touched: inout [Int32]
    ) -> Double {
        let spec = corpus.spec
        let c = spec.collocationProbability
        let beta = spec.backoffProbability
        let rho = spec.personalPhraseProbability
        var unigramMass = 0.0
        func add(_ w: Int32, _ p: Double) {
            guard p > 0 else { return }
            if sparse[Int(w)] == 0 { touched.append(w) }
            sparse[Int(w)] += p
        }
        func addFree(topic z: Int, mass: Double, base: [(word: Int32, probability: Double)]) {
            unigramMass += mass * (1 - c) * beta
            let b = mass * (1 - c) * (1 - beta)
            if b > 0 { for (w, p) in base { add(w, b * p) } }
            if c > 0 { for (w, p) in collocationFirstWords[z] { add(w, mass * c * p) } }
        }
        for (s, alpha) in belief.states {
            let z = Int(s.topic)
            switch s.kind {
            case .start:
                if rho > 0 {
                    if let profile {
                        let share = alpha * rho / Double(profile.personalPhrases.count)
                        for phrase in profile.personalPhrases { add(phrase[0], share) }
                    } else {
                        unigramMass += alpha * rho
                    }
                }
                addFree(topic: z, mass: alpha * (1 - rho), base: firstWordDistributions[z])
            case .free:
                addFree(topic: z, mass: alpha, base: successors(topic: z, of: belief.previous!, cache: cache))
            case .collocation:
                add(corpus.collocations[z][Int(s.item)][Int(s.position)], alpha)
            case .personal:
                add(profile!.personalPhrases[Int(s.item)][Int(s.position)], alpha)
            case .anonymousPersonal:
                unigramMass += alpha
            }
        }
        return unigramMass
    }

    /// The belief after observing word `w`.
    private func update(
        _ belief: Belief, observing w: Int32, profile: SyntheticCorpus.UserProfile?, cache: SuccessorCache
    ) -> Belief {
        let spec = corpus.spec
        let c = spec.collocationProbability
        let beta = spec.backoffProbability
        let rho = spec.personalPhraseProbability
        let uw = corpus.unigram[Int(w)]
        var next: [HiddenState: Double] = [:]
        func free(_ z: Int32) -> HiddenState { HiddenState(topic: z, kind: .free) }
        func freeStep(topic z: Int32, mass: Double, base: [(word: Int32, probability: Double)]) {
            guard mass > 0 else { return }
            var stay = (1 - c) * beta * uw
            if let hit = Self.lookup(base, w) { stay += (1 - c) * (1 - beta) * hit }
            if stay > 0 { next[free(z), default: 0] += mass * stay }
            if c > 0, let starts = collocationsByFirstWord[Int(z)][w] {
                for (k, weight) in starts {
                    // Collocations have at least 2 words.
                    next[HiddenState(topic: z, kind: .collocation, item: k, position: 1), default: 0] +=
                        mass * c * weight
                }
            }
        }
        for (s, alpha) in belief.states {
            let z = s.topic
            switch s.kind {
            case .start:
                if rho > 0 {
                    if let profile {
                        let share = alpha * rho / Double(profile.personalPhrases.count)
                        for (j, phrase) in profile.personalPhrases.enumerated() where phrase[0] == w {
                            let to =
                                phrase.count > 1
                                ? HiddenState(topic: z, kind: .personal, item: Int32(j), position: 1) : free(z)
                            next[to, default: 0] += share
                        }
                    } else {
                        let lengths = spec.minPersonalPhraseLength...spec.maxPersonalPhraseLength
                        let share = alpha * rho * uw / Double(lengths.count)
                        for length in lengths {
                            let to =
                                length > 1
                                ? HiddenState(topic: z, kind: .anonymousPersonal, item: Int32(length), position: 1)
                                : free(z)
                            next[to, default: 0] += share
                        }
                    }
                }
                freeStep(topic: z, mass: alpha * (1 - rho), base: firstWordDistributions[Int(z)])
            case .free:
                freeStep(topic: z, mass: alpha, base: successors(topic: Int(z), of: belief.previous!, cache: cache))
            case .collocation:
                let phrase = corpus.collocations[Int(z)][Int(s.item)]
                guard phrase[Int(s.position)] == w else { continue }
                let to =
                    Int(s.position) + 1 < phrase.count
                    ? HiddenState(topic: z, kind: .collocation, item: s.item, position: s.position + 1) : free(z)
                next[to, default: 0] += alpha
            case .personal:
                let phrase = profile!.personalPhrases[Int(s.item)]
                guard phrase[Int(s.position)] == w else { continue }
                let to =
                    Int(s.position) + 1 < phrase.count
                    ? HiddenState(topic: z, kind: .personal, item: s.item, position: s.position + 1) : free(z)
                next[to, default: 0] += alpha
            case .anonymousPersonal:
                let to =
                    s.position + 1 < s.item
                    ? HiddenState(topic: z, kind: .anonymousPersonal, item: s.item, position: s.position + 1) : free(z)
                next[to, default: 0] += alpha * uw
            }
        }
        let total = next.values.reduce(0, +)
        precondition(total > 0, "the observed word is impossible under the synthetic process")
        for key in next.keys { next[key]! /= total }
        return Belief(states: next, previous: w)
    }

    private static func lookup(_ table: [(word: Int32, probability: Double)], _ w: Int32) -> Double? {
        var lo = 0
        var hi = table.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if table[mid].word < w { lo = mid + 1 } else { hi = mid }
        }
        return lo < table.count && table[lo].word == w ? table[lo].probability : nil
    }

    // MARK: Distributions (for tests and callers that want the full posterior)

    /// The exact predictive distribution `P(w | w₁…wₜ₋₁)` over the whole lexicon, for every
    /// position `t` of `message` (word indices), given what `knowledge` allows to know of
    /// user `user`. Row `t` sums to 1.
    ///
    /// - Complexity: O(`message.count` · lexicon size); meant for tests and small lexicons.
    public func predictiveDistributions(message: [Int32], user: Int, knowledge: Knowledge) -> [[Double]] {
        let profile = knowledge == .user ? corpus.profile(user: user) : nil
        let cache = SuccessorCache()
        var belief = initialBelief(profile: profile)
        var sparse = [Double](repeating: 0, count: corpus.spec.vocabularySize)
        var touched: [Int32] = []
        var rows: [[Double]] = []
        for w in message {
            let a = predict(belief, profile: profile, cache: cache, sparse: &sparse, touched: &touched)
            rows.append((0..<corpus.spec.vocabularySize).map { sparse[$0] + a * corpus.unigram[$0] })
            for t in touched { sparse[Int(t)] = 0 }
            touched.removeAll(keepingCapacity: true)
            belief = update(belief, observing: w, profile: profile, cache: cache)
        }
        return rows
    }

    // MARK: nwp-v1 evaluation

    /// Scores both oracles on the evaluation messages of `split` over a corpus materialised
    /// from this oracle's spec, with the nwp-v1 vocabulary `vocabulary` (built from the
    /// training messages).
    ///
    /// - Throws: ``CorpusError/Code/notTheCorpus`` if a user id or token was not produced by
    ///   ``SyntheticCorpus/materialize(users:days:source:)`` of this spec.
    public func evaluate(_ text: TokenizedCorpus, split: CorpusSplit, vocabulary: Vocabulary) throws -> Report {
        let lexicon = corpus.spec.vocabularySize
        var indexOfWord: [String: Int32] = [:]
        indexOfWord.reserveCapacity(lexicon)
        for i in 0..<lexicon { indexOfWord[SyntheticCorpus.spell(i)] = Int32(i) }
        var typeToWord = [Int32](repeating: -1, count: text.types.count)
        for (t, s) in text.types.enumerated() {
            guard let i = indexOfWord[s] else {
                throw CorpusError(
                    .notTheCorpus,
                    "token type \(t) is not a word of synthetic spec \"\(corpus.spec.name)\"; evaluate the oracle on the corpus its spec materialises",
                    path: text.provenance.source)
            }
            typeToWord[t] = i
        }
        // Vocabulary id of each lexicon word (-1 when out of vocabulary), and the reverse.
        var vocabID = [Int32](repeating: -1, count: lexicon)
        for i in 0..<lexicon { if let id = vocabulary.getID(of: SyntheticCorpus.spell(i)) { vocabID[i] = id } }
        let wordOfVocabID: [Int32] = vocabulary.words.map { indexOfWord[$0] ?? -1 }

        var report = Report()
        let cache = SuccessorCache()
        var sparse = [Double](repeating: 0, count: lexicon)
        var touched: [Int32] = []
        var profiles: [Int: SyntheticCorpus.UserProfile] = [:]
        for m in split.evalMessages {
            let id = text.userIDs[Int(text.messageUsers[m])]
            guard let user = SyntheticCorpus.userIndex(ofID: id) else {
                throw CorpusError(
                    .notTheCorpus, "user id at message \(m + 1) is not a synthetic user id (u0000000 form)",
                    path: text.provenance.source, location: m + 1)
            }
            let profile: SyntheticCorpus.UserProfile
            if let cached = profiles[user] {
                profile = cached
            } else {
                profile = corpus.profile(user: user)
                profiles[user] = profile
            }
            let words = text.tokens(ofMessage: m).map { typeToWord[Int($0)] }
            for knowledge in Knowledge.allCases {
                let known = knowledge == .user ? profile : nil
                var belief = initialBelief(profile: known)
                var accuracy = knowledge == .user ? report.personalised : report.global
                for w in words {
                    let a = predict(belief, profile: known, cache: cache, sparse: &sparse, touched: &touched)
                    let top = topThree(
                        sparse: sparse, touched: touched, unigramMass: a, vocabID: vocabID, wordOfVocabID: wordOfVocabID
                    )
                    if vocabID[Int(w)] >= 0 {
                        if top.first?.word == w { accuracy.hitsAt1 += 1 }
                        if top.contains(where: { $0.word == w }) { accuracy.hitsAt3 += 1 }
                    }
                    accuracy.expectedHitsAt1 += top.first?.probability ?? 0
                    accuracy.expectedHitsAt3 += top.reduce(0) { $0 + $1.probability }
                    for t in touched { sparse[Int(t)] = 0 }
                    touched.removeAll(keepingCapacity: true)
                    belief = update(belief, observing: w, profile: known, cache: cache)
                }
                if knowledge == .user { report.personalised = accuracy } else { report.global = accuracy }
            }
            report.predictions += words.count
            report.inVocabularyTargets += words.reduce(0) { $0 + (vocabID[Int($1)] >= 0 ? 1 : 0) }
        }
        return report
    }

    /// The three in-vocabulary words of highest probability, ties by vocabulary rank.
    private func topThree(
        sparse: [Double], touched: [Int32], unigramMass a: Double, vocabID: [Int32], wordOfVocabID: [Int32]
    ) -> [(word: Int32, probability: Double, id: Int32)] {
        var best: [(word: Int32, probability: Double, id: Int32)] = []
        func offer(_ w: Int32, _ p: Double, _ id: Int32) {
            if best.count == 3 {
                let last = best[2]
                guard p > last.probability || (p == last.probability && id < last.id) else { return }
                best.removeLast()
            }
            var i = best.count
            while i > 0, best[i - 1].probability < p || (best[i - 1].probability == p && best[i - 1].id > id) { i -= 1 }
            best.insert((w, p, id), at: i)
        }
        for w in touched {
            let id = vocabID[Int(w)]
            if id >= 0 { offer(w, sparse[Int(w)] + a * corpus.unigram[Int(w)], id) }
        }
        // Words outside the sparse support score a·Zipf(w), decreasing in lexicon rank (or 0
        // for all when a = 0, then ranked by vocabulary id): the first three suffice.
        var found = 0
        if a > 0 {
            var w = 0
            while found < 3, w < corpus.spec.vocabularySize {
                let id = vocabID[w]
                if id >= 0, sparse[w] == 0 {
                    offer(Int32(w), a * corpus.unigram[w], id)
                    found += 1
                }
                w += 1
            }
        } else {
            var r = 0
            while found < 3, r < wordOfVocabID.count {
                let w = wordOfVocabID[r]
                if w >= 0, sparse[Int(w)] == 0 {
                    offer(w, 0, Int32(r) + SpecialToken.firstWordID)
                    found += 1
                }
                r += 1
            }
        }
        return best
    }
}
