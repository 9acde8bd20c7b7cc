import Foundation
import KeyboardCorpus
import LanguageModelTypes
import Testing

@testable import LanguageModels

/// The synthetic oracle is the Bayes-optimal predictor of the text it generates: a model
/// trained on ample text can approach its global ceiling (one model for every user, reading
/// only the current message) but never beat it.
struct OracleCeilingTests {
    static let tinySpec: SyntheticSpec = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try! SyntheticSpec.load(path: repo.appendingPathComponent("corpora/synthetic-tiny.json").path)
    }()

    @Test(
        "a Kneser-Ney model trained on ample synthetic text comes close to the global ceiling, never above it",
        arguments: [2, 3, 4])
    func kneserNeyApproachesTheCeiling(order: Int) throws {
        // 400 users × 40 days of the tiny spec: ~64k training messages over 12 words.
        let bench = try SyntheticBenchmark(spec: Self.tinySpec, users: 400, days: 40, vocabularySize: 100)
        let idsByType = bench.vocabulary.idsByType(of: bench.text)
        let encode = { (m: Int) in bench.vocabulary.encode(message: m, of: bench.text, idsByType: idsByType) }
        let model = try KneserNeyModel(
            counts: NGramCounts(order: order, messages: bench.split.trainMessages.map(encode)),
            vocabulary: bench.vocabulary)
        let metrics = NextWordEvaluator(threads: 2).evaluate(model, messages: bench.split.evalMessages.map(encode))
        let ceiling1 = bench.ceiling.accuracy(.population, k: 1)
        let ceiling3 = bench.ceiling.accuracy(.population, k: 3)
        #expect(metrics.predictions == bench.ceiling.predictions)
        // Never above the ceiling (a hit count, so allow no slack beyond sampling of ties: none).
        #expect(metrics.accuracyAt1 <= ceiling1, "acc@1 \(metrics.accuracyAt1) above the ceiling \(ceiling1)")
        #expect(metrics.accuracyAt3 <= ceiling3, "acc@3 \(metrics.accuracyAt3) above the ceiling \(ceiling3)")
        // Close: within 10% of it on this small, well-sampled process, for orders that can
        // carry the message's topic forward (a bigram forgets it after one word: ~88%).
        guard order >= 3 else { return }
        #expect(metrics.accuracyAt1 >= 0.9 * ceiling1, "acc@1 \(metrics.accuracyAt1) vs ceiling \(ceiling1)")
        #expect(metrics.accuracyAt3 >= 0.9 * ceiling3, "acc@3 \(metrics.accuracyAt3) vs ceiling \(ceiling3)")
    }
}
