import Foundation
import KeyboardCorpus
import LanguageModelTypes
import Testing

@testable import LanguageModels

/// Per-user figures (issue 18): the distribution's definitions on hand-worked numbers, the
/// evaluator's per-message figures, and the n-gram user model's exact top-k.
struct PerUserAndPersonalModelTests {
    @Test("the per-user summary of four hand-worked users")
    func handWorkedSummary() throws {
        // acc@1: 0.5, 0.1, 0, 0.4 → sorted 0, 0.1, 0.4, 0.5.
        let scores = [
            UserScore(user: 0, predictions: 10, hitsAt1: 5, hitsAt3: 7),
            UserScore(user: 1, predictions: 20, hitsAt1: 2, hitsAt3: 6),
            UserScore(user: 2, predictions: 5, hitsAt1: 0, hitsAt3: 1),
            UserScore(user: 3, predictions: 15, hitsAt1: 6, hitsAt3: 9),
            UserScore(user: 4, predictions: 0, hitsAt1: 0, hitsAt3: 0),  // no prediction: left out
        ]
        let s = try #require(UserAccuracySummary(scores, threshold: 0.05))
        #expect(s.users == 4)
        #expect(s.at1.pooled == 13.0 / 50.0)  // Σ hits / Σ predictions
        #expect(abs(s.at1.mean - 0.25) < 1e-15)
        #expect(abs(s.at1.p10 - 0.03) < 1e-15)  // position 0.3: 0 + 0.3·(0.1 − 0)
        #expect(abs(s.at1.median - 0.25) < 1e-15)  // position 1.5: 0.1 + 0.5·(0.4 − 0.1)
        #expect(abs(s.at1.p90 - 0.47) < 1e-15)  // position 2.7: 0.4 + 0.7·(0.5 − 0.4)
        #expect(s.worstDecileAt1 == 0)  // ⌈4/10⌉ = 1 user: user 2
        #expect(s.shareBelow == 0.25)  // only user 2 is below 0.05
        #expect(s.at3.pooled == 23.0 / 50.0)
        #expect(UserAccuracySummary([], threshold: 0.05) == nil)
    }

    @Test("the worst decile averages the ⌈n/10⌉ lowest users, ties by user id")
    func worstDecile() throws {
        let scores = (0..<11).map { UserScore(user: $0, predictions: 10, hitsAt1: $0 < 3 ? 1 : 5, hitsAt3: 5) }
        let s = try #require(UserAccuracySummary(scores))
        #expect(s.worstDecileAt1 == 0.1)  // ⌈11/10⌉ = 2 users, both at 0.1
    }

    /// Predicts word 4 first, then 5, then 6, whatever the context.
    struct FixedPredictor: NextWordPredictor {
        var vocabularyCount: Int { 8 }
        mutating func predictMessage(
            _ ids: UnsafeBufferPointer<Int32>, k: Int, topK: UnsafeMutableBufferPointer<Int32>,
            targetLogProbs: UnsafeMutableBufferPointer<Double>
        ) {
            for i in 0..<ids.count {
                for j in 0..<k { topK[i * k + j] = Int32(4 + j) }
                targetLogProbs[i] = log(0.25)
            }
        }
    }

    @Test("per-message figures sum to the pooled ones, and group into hand-counted users")
    func perMessageAndUsers() throws {
        // User 7: [4, 4] (2 hits@1), [6] (1 hit@3). User 3: [5, 1] (a hit@3, an OOV miss). User 7 again: [].
        let messages: [[Int32]] = [[4, 4], [5, 1], [6], []]
        let grouping = UserGrouping(userOfMessage: [7, 3, 7, 7])
        for threads in 1...3 {
            let (total, each) = NextWordEvaluator(threads: threads).evaluateEach(messages: messages) {
                FixedPredictor()
            }
            var single = FixedPredictor()
            #expect(total == NextWordEvaluator.evaluate(&single, messages: messages))
            #expect(each.count == 4 && each[3] == NextWordMetrics())
            let users = grouping.scores(perMessage: each)
            #expect(
                users == [
                    UserScore(user: 3, predictions: 2, hitsAt1: 0, hitsAt3: 1),
                    UserScore(user: 7, predictions: 3, hitsAt1: 2, hitsAt3: 3),
                ])
            let summary = try #require(UserAccuracySummary(users))
            #expect(summary.at1.pooled == total.accuracyAt1)
            #expect(summary.at3.pooled == total.accuracyAt3)
        }
    }

    /// The interpolated distribution scored word by word over the whole vocabulary.
    func bruteTop3(_ model: InterpolatedUserModel, history: [Int32], vocabularyCount: Int) -> [Int32] {
        (4..<Int32(vocabularyCount)).map { w in
            (
                w,
                model.lambda * pow(10, model.user.log10Probability(of: w, after: history))
                    + (1 - model.lambda) * pow(10, model.global.log10Probability(of: w, after: history))
            )
        }
        .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(3).map(\.0)
    }

    @Test("the user model's top 3 equals a brute-force ranking of the interpolation", arguments: [0.0, 0.3, 0.8, 1.0])
    func interpolatedTopKIsExact(lambda: Double) throws {
        let (v, messages) = smallCorpus(messages: 400)
        let global = try KneserNeyModel(
            counts: NGramCounts(order: 3, messages: messages.prefix(300).map { $0 }), vocabulary: v)
        // The "user" typed a different slice of text, so their words and the global ones differ.
        let userText = (smallCorpus(seed: 99, messages: 60).1)
        var model = try InterpolatedUserModel(global: global, userMessages: userText, lambda: lambda)
        for m in messages.suffix(40) where !m.isEmpty {
            var top = [Int32](repeating: 0, count: m.count * 3)
            var lp = [Double](repeating: 0, count: m.count)
            m.withUnsafeBufferPointer { ids in
                top.withUnsafeMutableBufferPointer { t in
                    lp.withUnsafeMutableBufferPointer { model.predictMessage(ids, k: 3, topK: t, targetLogProbs: $0) }
                }
            }
            for i in 0..<m.count {
                let history = Array(([2] + m.prefix(i)).suffix(2))
                #expect(
                    Array(top[(3 * i)..<(3 * i + 3)]) == bruteTop3(model, history: history, vocabularyCount: v.count))
                let p =
                    lambda * pow(10, model.user.log10Probability(of: m[i], after: history))
                    + (1 - lambda) * pow(10, global.log10Probability(of: m[i], after: history))
                #expect(abs(lp[i] - log(p)) < 1e-12)
            }
        }
    }

    @Test("with λ = 0 the user model predicts exactly as the global model")
    func lambdaZeroIsGlobal() throws {
        let (v, messages) = smallCorpus()
        let global = try KneserNeyModel(counts: NGramCounts(order: 3, messages: messages), vocabulary: v)
        let personal = try InterpolatedUserModel(global: global, userMessages: Array(messages.prefix(5)), lambda: 0)
        let a = NextWordEvaluator(threads: 1).evaluate(global, messages: messages)
        let b = NextWordEvaluator(threads: 1).evaluate(personal, messages: messages)
        #expect(a.hitsAt1 == b.hitsAt1 && a.hitsAt3 == b.hitsAt3)
        #expect(abs(a.negativeLogLikelihood - b.negativeLogLikelihood) < 1e-6 * a.negativeLogLikelihood)
    }

    @Test("FedProx: the first step is plain SGD (w = w₀), later steps are pulled back towards w₀")
    func fedProx() throws {
        let (v, messages) = smallCorpus(messages: 64)
        let config = ModelConfig(
            name: "t", vocabularySize: v.count, embedding: 8, hidden: 12, projection: 8, cell: .cifg, seed: 5)
        let model = try LSTMLanguageModel(config: config)
        func delta(mu: Float, batch: Int) -> [Float] {
            var o = TrainingOptions(batchSize: batch, learningRate: 0.5, seed: 3)
            o.proximalMu = mu
            return Array(
                LSTMTrainer(model: model, options: o).trainLocally(from: model.parameters, on: messages, epochs: 2)
                    .delta)
        }
        // One batch, one epoch = one step: the proximal gradient μ(w − w₀) is zero there.
        var one = TrainingOptions(batchSize: 64, learningRate: 0.5, seed: 3)
        let plain = LSTMTrainer(model: model, options: one).trainLocally(
            from: model.parameters, on: messages, epochs: 1
        ).delta
        one.proximalMu = 5
        let prox = LSTMTrainer(model: model, options: one).trainLocally(from: model.parameters, on: messages, epochs: 1)
            .delta
        #expect(plain == prox)
        // Many steps: a large μ keeps the update much closer to w₀.
        func norm(_ x: [Float]) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        let free = delta(mu: 0, batch: 4)
        let held = delta(mu: 1, batch: 4)
        #expect(free != held)
        #expect(norm(held) < norm(free))
        #expect(delta(mu: 0, batch: 4) == free)  // deterministic
    }
}
