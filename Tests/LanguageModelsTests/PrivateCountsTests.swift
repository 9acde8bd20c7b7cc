import FederatedCore
import Foundation
import KeyboardCorpus
import LanguageModelTypes
import Testing

@testable import LanguageModels

/// Differentially private n-gram counts: a phone's bounded contribution (checked by brute
/// force), the noisy thresholded release (its noise, its threshold, its structure), and the
/// Kneser-Ney model built from what is released.
@Suite struct PrivateCountsTests {
    static let (vocabulary, messages) = smallCorpus(seed: 11, messages: 200)

    /// Checks that `c` passes the server's validation of an upload (closed under prefix and
    /// suffix, sorted, counts ≥ 1).
    static func isValidTable(_ c: NGramCounts) -> Bool {
        (try? NGramCounts(order: c.order, keys: c.keys, counts: c.counts, vocabularyCount: vocabulary.count)) != nil
    }

    @Test(arguments: [(1, 1), (5, 1), (12, 3), (40, 2), (100_000, 100_000)])
    func boundedCountsMeetTheBoundAndStayValid(maximumPerOrder: Int, maximumCount: Int) {
        let bound = NGramCounts.ContributionBound(maximumPerOrder: maximumPerOrder, maximumCount: maximumCount)
        for phone in 0..<10 {
            let text = Array(Self.messages[(phone * 20)..<(phone * 20 + 20)])
            let counts = NGramCounts(order: 3, messages: text)
            let (b, effect) = counts.bounded(by: bound)
            var squares = 0.0
            for n in 1...3 {
                #expect(b.distinctCount(order: n) <= maximumPerOrder)
                for (i, key) in b.keys[n - 1].enumerated() {
                    let v = b.counts[n - 1][i]
                    #expect(v <= UInt32(maximumCount))
                    // What is kept is the original count, capped.
                    #expect(v == min(counts.count(of: key.ids(length: n)), UInt32(maximumCount)))
                    squares += Double(v) * Double(v)
                }
            }
            #expect(squares.squareRoot() <= bound.sensitivity(order: 3) + 1e-9)
            #expect(Self.isValidTable(b))
            // Bounding a bounded set changes nothing.
            let again = b.bounded(by: bound)
            #expect(again.counts == b && !again.effect.changed)
            if maximumPerOrder >= 100_000 { #expect(b == counts && !effect.changed) }
        }
    }

    /// Brute force on one phone: order 1 keeps exactly the M most frequent unigrams (ties by
    /// key), and every kept bigram has both its words kept.
    @Test func boundingKeepsTheMostFrequent() {
        let counts = NGramCounts(order: 2, messages: Array(Self.messages[0..<40]))
        let m = 6
        let (b, _) = counts.bounded(by: .init(maximumPerOrder: m, maximumCount: 100))
        let ranked = counts.keys[0].indices.sorted {
            counts.counts[0][$0] != counts.counts[0][$1] ? counts.counts[0][$0] > counts.counts[0][$1] : $0 < $1
        }
        #expect(b.keys[0] == ranked.prefix(m).sorted().map { counts.keys[0][$0] })
        for key in b.keys[1] {
            let (w1, w2) = (key.id(at: 0), key.id(at: 1))
            #expect(w1 == SpecialToken.bos.rawValue || b.keys[0].binarySearch(NGramKey([w1])) != nil)
            #expect(b.keys[0].binarySearch(NGramKey([w2])) != nil)
        }
    }

    /// Without noise and with τ = 1 the release is the sum itself; with τ above every count,
    /// nothing.
    @Test func noiselessReleaseIsTheIdentity() {
        let counts = NGramCounts(order: 3, messages: Self.messages)
        var rng = SplitMix64(seed: 1)
        #expect(counts.noisyRelease(standardDeviation: 0, threshold: 1, rng: &rng).counts == counts)
        let none = counts.noisyRelease(standardDeviation: 0, threshold: 1_000_000, rng: &rng)
        #expect(none.counts.isEmpty && none.effect.releasedNGrams == 0)
        #expect(none.effect.summedNGrams == (1...3).map(counts.distinctCount(order:)).reduce(0, +))
    }

    /// The noise: on counts far above the threshold (none dropped), released − true over
    /// thousands of n-grams has mean 0 and standard deviation √(σ² + 1/12) (the rounding),
    /// each within 3 standard errors.
    @Test func releasedNoiseHasTheStandardDeviation() {
        var base = NGramCounts(order: 3, messages: Self.messages)
        for n in 0..<3 { base.counts[n] = base.counts[n].map { $0 + 10_000 } }
        let sigma = 7.5
        var rng = SplitMix64(seed: 42)
        var diffs: [Double] = []
        for _ in 0..<4 {
            let (released, effect) = base.noisyRelease(standardDeviation: sigma, threshold: 100, rng: &rng)
            #expect(effect.droppedNGrams == 0)
            for n in 0..<3 {
                for i in base.keys[n].indices {
                    diffs.append(Double(released.counts[n][i]) - Double(base.counts[n][i]))
                }
            }
        }
        let count = Double(diffs.count)
        let mean = diffs.reduce(0, +) / count
        let variance = diffs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (count - 1)
        let expected = (sigma * sigma + 1.0 / 12).squareRoot()
        #expect(abs(mean) < 3 * expected / count.squareRoot())
        // The sample standard deviation's standard error is about σ / √(2n).
        #expect(abs(variance.squareRoot() - expected) < 3 * expected / (2 * count).squareRoot())
    }

    /// At heavy noise most n-grams fall under the threshold; what is released is still a
    /// valid table (prefixes and suffixes present), every count at least τ, and the
    /// Kneser-Ney model built from it is a distribution over the vocabulary in every context.
    @Test func heavyNoiseLeavesAValidTableAndAModel() throws {
        let counts = NGramCounts(order: 3, messages: Self.messages)
        var rng = SplitMix64(seed: 9)
        let (released, effect) = counts.noisyRelease(standardDeviation: 6, threshold: 8, rng: &rng)
        #expect(effect.releasedNGrams > 0 && effect.droppedNGrams > 0)
        #expect(Self.isValidTable(released))
        #expect(released.counts.allSatisfy { $0.allSatisfy { $0 >= 8 } })
        let model = try KneserNeyModel(counts: released, vocabulary: Self.vocabulary)
        for history in [[Int32](), [Self.messages[0][0]], Array(Self.messages[3].prefix(2)), [7, 8]] {
            var total = 0.0
            for w in 1..<Int32(Self.vocabulary.count) where w != SpecialToken.bos.rawValue {
                let lp = model.log10Probability(of: w, after: history)
                #expect(lp.isFinite)
                total += pow(10, lp)
            }
            #expect(abs(total - 1) < 1e-6, "history \(history): Σp = \(total)")
        }
    }
}
