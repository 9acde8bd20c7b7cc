import Foundation
import KeyboardCorpus
import LanguageModelTypes
import Testing

@testable import LanguageModels

/// A small corpus with repeated phrases, OOV words and sentence-initial words.
func smallCorpus(seed: UInt64 = 7, messages: Int = 300) -> (Vocabulary, [[Int32]]) {
    var rng = SplitMixForTests(seed: seed)
    let words = (0..<40).map { "w\($0)" }
    var texts: [[String]] = []
    for _ in 0..<messages {
        let length = 1 + Int(rng.next() % 9)
        var m: [String] = []
        var prev = Int(rng.next() % 40)
        for _ in 0..<length {
            // Mostly a Zipf-ish successor of the previous word, so contexts matter.
            let next = rng.next() % 3 == 0 ? Int(rng.next() % 40) : (prev * 7 + Int(rng.next() % 3)) % 40
            m.append(words[next])
            prev = next
        }
        texts.append(m)
    }
    var builder = TokenizedCorpusBuilder(format: "test", source: "test")
    for t in texts { builder.appendMessage(user: "u", tokens: t) }
    let corpus = builder.build()
    let vocabulary = try! Vocabulary(countingMessages: 0..<corpus.messageCount, of: corpus, size: 30)  // 10 words OOV
    let ids = vocabulary.idsByType(of: corpus)
    return (vocabulary, (0..<corpus.messageCount).map { vocabulary.encode(message: $0, of: corpus, idsByType: ids) })
}

struct KneserNeyModelTests {
    /// Every id the model can emit: words, <unk> and </s>.
    func predictable(_ v: Vocabulary) -> [Int32] { [1, 3] + (4..<Int32(v.count)).map { $0 } }

    @Test("each context's distribution sums to 1 over words, <unk> and </s>", arguments: 1...5)
    func distributionsSumToOne(order: Int) throws {
        let (v, messages) = smallCorpus()
        let model = try KneserNeyModel(counts: NGramCounts(order: order, messages: messages), vocabulary: v)
        var histories: [[Int32]] = [[2]]
        for m in messages.prefix(40) {
            histories.append([2] + m.prefix(3))
            histories.append(Array(m.suffix(order)))
        }
        histories.append([2, 1, 1, 1])  // an unseen context backs off to the unigram
        for h in histories {
            let total = predictable(v).reduce(0.0) { $0 + pow(10, model.log10Probability(of: $1, after: h)) }
            #expect(abs(total - 1) < 1e-9, "order \(order), history \(h): \(total)")
        }
    }

    @Test("top-k equals a brute-force ranking of the whole vocabulary", arguments: 1...5)
    func topKMatchesBruteForce(order: Int) throws {
        let (v, messages) = smallCorpus()
        let model = try KneserNeyModel(
            counts: NGramCounts(order: order, messages: messages.prefix(200).map { $0 }), vocabulary: v)
        for m in messages.suffix(60) {
            for i in 0...m.count {
                let history = [2] + m.prefix(i)
                let brute = (4..<Int32(v.count)).map { ($0, model.log10Probability(of: $0, after: history)) }
                    .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
                    .prefix(3).map(\.0)
                #expect(model.topK(after: history, k: 3) == brute, "history \(history)")
            }
        }
    }

    @Test func discountsFollowChenGoodman() throws {
        let (v, messages) = smallCorpus(messages: 2000)
        let counts = NGramCounts(order: 3, messages: messages)
        let model = try KneserNeyModel(counts: counts, vocabulary: v)
        // Highest order: raw counts. Recompute D1..D3+ from its count-of-counts by hand.
        var t = [Double](repeating: 0, count: 5)
        for c in counts.counts[2] where c <= 4 { t[Int(c)] += 1 }
        let y = t[1] / (t[1] + 2 * t[2])
        let expected = [1 - 2 * y * t[2] / t[1], 2 - 3 * y * t[3] / t[2], 3 - 4 * y * t[4] / t[3]]
        for (d, e) in zip(model.discounts[2], expected) { #expect(abs(d - e) < 1e-12) }
    }

    @Test func handWorkedBigram() throws {
        // Messages "a b" and "a c" with V = {a, b, c} (ids 4, 5, 6).
        let v = try Vocabulary(words: ["a", "b", "c"])
        let model = try KneserNeyModel(counts: NGramCounts(order: 2, messages: [[4, 5], [4, 6]]), vocabulary: v)
        // Unigram adjusted counts (left extensions): a:{<s>}=1, b:{a}=1, c:{a}=1, </s>:{b,c}=2.
        // Count-of-counts are incomplete, so one discount Y = t1/(t1+2 t2) = 3/5 for all.
        let d = 0.6
        let gamma0 = d * 4 / 5  // four unigrams with counts 1,1,1,2 (total 5)
        let uniform = 1.0 / 5  // 3 words + <unk> + </s>
        let pA = (1 - d) / 5 + gamma0 * uniform
        #expect(abs(pow(10, model.log10Probability(of: 4, after: [])) - pA) < 1e-12)
        // Bigram (highest order, raw counts): <s> a ×2, a b, a c, b </s>, c </s> -> t1 = 4,
        // t2 = 1, so its single discount is Y = 4 / 6. Context "a" saw b and c once each.
        let d2 = 4.0 / 6
        let pEosUni = (2 - d) / 5 + gamma0 * uniform
        let pBUni = (1 - d) / 5 + gamma0 * uniform
        let gammaA = d2 * 2 / 2
        #expect(abs(pow(10, model.log10Probability(of: 5, after: [4])) - ((1 - d2) / 2 + gammaA * pBUni)) < 1e-12)
        #expect(abs(pow(10, model.log10Probability(of: 3, after: [4])) - gammaA * pEosUni) < 1e-12)
    }

    @Test func countsMergeLikeCountingTheUnion() {
        let (_, messages) = smallCorpus()
        var left = NGramCounts(order: 4, messages: messages.prefix(120).map { $0 })
        left.merge(NGramCounts(order: 4, messages: messages.dropFirst(120).map { $0 }))
        #expect(left == NGramCounts(order: 4, messages: messages))
    }

    @Test func evaluatorCountsHitsAndOOVMisses() throws {
        let v = try Vocabulary(words: ["a", "b"])
        // "a b" repeated: after <s> the best word is a, after a it is b.
        let model = try KneserNeyModel(
            counts: NGramCounts(order: 2, messages: Array(repeating: [4, 5], count: 20)), vocabulary: v)
        let metrics = NextWordEvaluator(threads: 2).evaluate(model, messages: [[4, 5], [4, 1], [5]])
        #expect(metrics.predictions == 5)
        #expect(metrics.inVocabularyPredictions == 4)
        #expect(metrics.hitsAt1 == 3)  // a, b, a; the OOV target and the final "b" after <s> miss
        #expect(metrics.hitsAt3 == 4)  // b after <s> is second
        #expect(metrics.perplexity.isFinite)
        let single = NextWordEvaluator(threads: 1).evaluate(model, messages: [[4, 5], [4, 1], [5]])
        #expect(single == metrics)
    }
}
