import FederatedCore
import Foundation
import KeyboardCorpus
import Testing

/// An independent brute-force computation of `P(w₁…wₙ is a prefix of a message)`: a sum over
/// every generative path (topic, personal phrase or not and which, and at each free position
/// collocation k / Zipf back-off / list word), using the raw slot tables rather than the
/// oracle's merged ones and no filtering.
struct BruteForce {
    let corpus: SyntheticCorpus
    let profile: SyntheticCorpus.UserProfile?

    func slotMass(_ slots: [Int32], _ weights: [Double], _ w: Int32) -> Double {
        var p = 0.0
        for (i, s) in slots.enumerated() where s == w { p += weights[i] }
        return p
    }

    func free(topic z: Int, previous: Int32?, rest: ArraySlice<Int32>) -> Double {
        guard let w = rest.first else { return 1 }
        let spec = corpus.spec
        let c = spec.collocationProbability
        let beta = spec.backoffProbability
        var total = 0.0
        for (k, phrase) in corpus.collocations[z].enumerated() {
            let n = min(phrase.count, rest.count)
            guard Array(phrase.prefix(n)) == Array(rest.prefix(n)) else { continue }
            let after =
                rest.count > phrase.count
                ? free(topic: z, previous: phrase.last!, rest: rest.dropFirst(phrase.count)) : 1
            total += c * corpus.collocationWeights[k] * after
        }
        let base =
            previous.map { slotMass(corpus.successorSlots(topic: z, word: $0), corpus.successorSlotWeights, w) }
            ?? slotMass(corpus.firstWordSlots[z], corpus.firstWordSlotWeights, w)
        let emit = (1 - c) * (beta * corpus.unigram[Int(w)] + (1 - beta) * base)
        if emit > 0 { total += emit * free(topic: z, previous: w, rest: rest.dropFirst()) }
        return total
    }

    func prefixProbability(_ words: [Int32]) -> Double {
        let spec = corpus.spec
        let rho = spec.personalPhraseProbability
        let prior = profile?.topicMixture ?? corpus.topicWeights
        var total = 0.0
        let all = words[...]
        for z in prior.indices {
            var personal = 0.0
            if let profile {
                for phrase in profile.personalPhrases {
                    let n = min(phrase.count, words.count)
                    guard Array(phrase.prefix(n)) == Array(words.prefix(n)) else { continue }
                    let after =
                        words.count > phrase.count
                        ? free(topic: z, previous: phrase.last!, rest: all.dropFirst(phrase.count)) : 1
                    personal += after / Double(profile.personalPhrases.count)
                }
            } else {
                let lengths = spec.minPersonalPhraseLength...spec.maxPersonalPhraseLength
                for length in lengths {
                    let n = min(length, words.count)
                    let emitted = words.prefix(n).reduce(1.0) { $0 * corpus.unigram[Int($1)] }
                    let after =
                        words.count > length
                        ? free(topic: z, previous: words[length - 1], rest: all.dropFirst(length)) : 1
                    personal += emitted * after / Double(lengths.count)
                }
            }
            total += prior[z] * (rho * personal + (1 - rho) * free(topic: z, previous: nil, rest: all))
        }
        return total
    }
}

struct SyntheticOracleTests {
    @Test(
        "the oracle's posterior equals brute-force enumeration on a tiny spec",
        arguments: SyntheticOracle.Knowledge.allCases)
    func equalsBruteForce(knowledge: SyntheticOracle.Knowledge) throws {
        let corpus = try SyntheticCorpus(spec: loadTinySpec())
        let oracle = SyntheticOracle(corpus: corpus)
        var checked = 0
        for user in 0..<6 {
            let brute = BruteForce(corpus: corpus, profile: knowledge == .user ? corpus.profile(user: user) : nil)
            for message in corpus.messageIndices(user: user, day: 0).prefix(3) {
                let message = Array(message.prefix(5))
                let rows = oracle.predictiveDistributions(message: message, user: user, knowledge: knowledge)
                for t in message.indices {
                    let prefix = Array(message[..<t])
                    let denominator = brute.prefixProbability(prefix)
                    var sum = 0.0
                    for w in 0..<corpus.spec.vocabularySize {
                        let expected = brute.prefixProbability(prefix + [Int32(w)]) / denominator
                        sum += expected
                        #expect(abs(rows[t][w] - expected) <= 1e-12 + 1e-9 * expected, "user \(user) t \(t) w \(w)")
                    }
                    #expect(abs(sum - 1) < 1e-9)
                    checked += 1
                }
            }
        }
        #expect(checked > 20)
    }

    @Test(
        "the oracle's nwp-v1 hits equal a brute-force top-k over the full posterior, with OOV and rank ties",
        arguments: [SplitKind.users, .perUser])
    func hitsEqualBruteForce(kind: SplitKind) throws {
        let corpus = try SyntheticCorpus(spec: loadTinySpec())
        let oracle = SyntheticOracle(corpus: corpus)
        let text = try corpus.materialize()
        let split = try CorpusSplit(kind, of: text)
        // A vocabulary smaller than the lexicon, so some targets are OOV and some words unpredictable.
        let vocabulary = try Vocabulary(countingMessages: split.trainMessages, of: text, size: 8)
        let report = try oracle.evaluate(text, split: split, vocabulary: vocabulary)
        var expected = [SyntheticOracle.Knowledge: (Int, Int)]()
        var predictions = 0
        var inVocabulary = 0
        for m in split.evalMessages {
            let user = SyntheticCorpus.userIndex(ofID: text.userIDs[Int(text.messageUsers[m])])!
            let words = text.words(ofMessage: m).map { w in Int32((0..<12).first { SyntheticCorpus.spell($0) == w }!) }
            predictions += words.count
            inVocabulary += words.filter { vocabulary.getID(of: SyntheticCorpus.spell(Int($0))) != nil }.count
            for knowledge in SyntheticOracle.Knowledge.allCases {
                let rows = oracle.predictiveDistributions(message: words, user: user, knowledge: knowledge)
                for (t, target) in words.enumerated() {
                    var scored: [(id: Int, p: Double, word: Int32)] = []
                    for (rank, w) in vocabulary.words.enumerated() {
                        let index = Int32((0..<12).first { SyntheticCorpus.spell($0) == w }!)
                        scored.append((rank, rows[t][Int(index)], index))
                    }
                    scored.sort { $0.p > $1.p || ($0.p == $1.p && $0.id < $1.id) }
                    let top = scored.prefix(3).map(\.word)
                    var (h1, h3) = expected[knowledge] ?? (0, 0)
                    if top.first == target { h1 += 1 }
                    if top.contains(target) { h3 += 1 }
                    expected[knowledge] = (h1, h3)
                }
            }
        }
        #expect(report.predictions == predictions)
        #expect(report.inVocabularyTargets == inVocabulary)
        #expect(inVocabulary < predictions)
        #expect(report.personalised.hitsAt1 == expected[.user]!.0)
        #expect(report.personalised.hitsAt3 == expected[.user]!.1)
        #expect(report.global.hitsAt1 == expected[.population]!.0)
        #expect(report.global.hitsAt3 == expected[.population]!.1)
    }

    @Test("generated text follows the oracle's distribution (first word of a user's messages)")
    func generatorMatchesOracle() throws {
        let corpus = try SyntheticCorpus(spec: loadTinySpec())
        let oracle = SyntheticOracle(corpus: corpus)
        let user = 3
        let profile = corpus.profile(user: user)
        var rng = SplitMix64(seed: 99)
        var counts = [Int](repeating: 0, count: corpus.spec.vocabularySize)
        var secondCounts = [Int](repeating: 0, count: corpus.spec.vocabularySize)
        let n = 40_000
        var secondN = 0
        let firstRow = oracle.predictiveDistributions(message: [0], user: user, knowledge: .user)[0]
        // The second word after the most likely first word.
        let top = Int32(firstRow.indices.max { firstRow[$0] < firstRow[$1] }!)
        let secondRow = oracle.predictiveDistributions(message: [top, 0], user: user, knowledge: .user)[1]
        for _ in 0..<n {
            let message = corpus.generateMessage(profile: profile, using: &rng)
            counts[Int(message[0])] += 1
            if message.count > 1, message[0] == top {
                secondCounts[Int(message[1])] += 1
                secondN += 1
            }
        }
        for w in counts.indices {
            let p = firstRow[w]
            let sigma = (p * (1 - p) / Double(n)).squareRoot()
            #expect(abs(Double(counts[w]) / Double(n) - p) <= 5 * sigma + 1e-9, "first word \(w)")
            let q = secondRow[w]
            let s2 = (q * (1 - q) / Double(secondN)).squareRoot()
            #expect(abs(Double(secondCounts[w]) / Double(secondN) - q) <= 5 * s2 + 1e-9, "second word \(w)")
        }
    }

    @Test("the personalised ceiling is above the global one, and a count-based bigram model stays below the global one")
    func ceilings() throws {
        var spec = SyntheticSpec.english
        spec.vocabularySize = 3000
        spec.users = 200
        spec.days = 4
        let bench = try SyntheticBenchmark(spec: spec, vocabularySize: 2000)
        let (text, split, vocabulary, report) = (bench.text, bench.split, bench.vocabulary, bench.ceiling)
        #expect(report.predictions > 5000)
        let global1 = report.accuracy(.population, k: 1)
        let personal1 = report.accuracy(.user, k: 1)
        #expect(personal1 > global1)
        #expect(report.accuracy(.user, k: 3) > report.accuracy(.population, k: 3))
        #expect(report.accuracy(.population, k: 3) > global1)
        // Expected and realised accuracy agree within sampling error.
        let sigma = (global1 * (1 - global1) / Double(report.predictions)).squareRoot()
        #expect(abs(report.expectedAccuracy(.population, k: 1) - global1) < 6 * sigma + 0.01)

        // A maximum-likelihood bigram model with unigram back-off, trained on the training users.
        let ids = vocabulary.idsByType(of: text)
        var bigram: [Int64: [Int32: Int]] = [:]
        var unigram = [Int](repeating: 0, count: vocabulary.count)
        for m in split.trainMessages {
            var previous = SpecialToken.bos.rawValue
            for t in text.tokens(ofMessage: m) {
                let id = ids[Int(t)]
                if id >= SpecialToken.firstWordID {
                    bigram[Int64(previous), default: [:]][id, default: 0] += 1
                    unigram[Int(id)] += 1
                }
                previous = id
            }
        }
        let fallback = Int32(unigram.indices.max { unigram[$0] < unigram[$1] }!)
        var hits = 0
        var predictions = 0
        for m in split.evalMessages {
            var previous = SpecialToken.bos.rawValue
            for t in text.tokens(ofMessage: m) {
                let id = ids[Int(t)]
                let guess =
                    bigram[Int64(previous)]?.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?
                    .key ?? fallback
                if guess == id, id >= SpecialToken.firstWordID { hits += 1 }
                predictions += 1
                previous = id
            }
        }
        #expect(predictions == report.predictions)
        let model1 = Double(hits) / Double(predictions)
        #expect(model1 < global1, "bigram \(model1) vs global ceiling \(global1)")
        #expect(model1 > 0.3 * global1, "bigram \(model1) vs global ceiling \(global1)")
    }
}
