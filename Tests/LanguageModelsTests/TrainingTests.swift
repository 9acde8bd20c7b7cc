import Foundation
import LanguageModelTypes
import Testing

@testable import LanguageModels

/// Determinism and learning of the trainer.
struct TrainingTests {
    static let tiny = ModelConfig(
        name: "lstm-tiny", vocabularySize: 40, embedding: 8, hidden: 12, projection: 8, cell: .lstm, seed: 1)

    /// A corpus with structure: each message counts up from a start word.
    static func corpus(count: Int, seed: UInt64) -> [[Int32]] {
        var rng = SplitMixForTests(seed: seed)
        return (0..<count).map { _ in
            let start = 4 + Int32(rng.next() % 20)
            let length = Int(rng.next() % 9)
            return (0..<length).map { start + Int32($0) }
        }
    }

    @Test("a fixed seed gives bit-identical training", arguments: [1, 2])
    func fixedSeedIsBitIdentical(threads: Int) throws {
        let data = Self.corpus(count: 60, seed: 9)
        func run() throws -> ContiguousArray<Float> {
            let trainer = LSTMTrainer(
                model: try LSTMLanguageModel(config: Self.tiny),
                options: TrainingOptions(
                    batchSize: 8, learningRate: 0.5, optimizer: .sgd(clipNorm: 5), seed: 42, threads: threads))
            _ = trainer.train(data, epochs: 3)
            return trainer.model.parameters
        }
        let a = try run()
        let b = try run()
        #expect(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern })
    }

    @Test(
        "SGD and Adam both reduce the loss on a learnable corpus",
        arguments: [
            OptimizerKind.sgd(clipNorm: 5), .adam(clipNorm: 5),
        ])
    func lossDecreases(optimizer: OptimizerKind) throws {
        let data = Self.corpus(count: 200, seed: 3)
        let lr: Float = if case .sgd = optimizer { 1.0 } else { 0.01 }
        let trainer = LSTMTrainer(
            model: try LSTMLanguageModel(config: Self.tiny),
            options: TrainingOptions(batchSize: 16, learningRate: lr, optimizer: optimizer, seed: 1))
        let before = trainer.evaluateLoss(data)
        let losses = trainer.train(data, epochs: 15)
        let after = trainer.evaluateLoss(data)
        #expect(after < before * 0.6, "loss \(before) -> \(after), epochs \(losses)")
    }

    @Test("two workers compute the same step as one, up to rounding")
    func twoThreadsMatchOne() throws {
        let data = Self.corpus(count: 16, seed: 5)
        let model = try LSTMLanguageModel(config: Self.tiny)
        let one = LSTMTrainer(model: model, options: TrainingOptions(batchSize: 16, threads: 1))
        let two = LSTMTrainer(model: model, options: TrainingOptions(batchSize: 16, threads: 2))
        let l1 = one.step(on: data)
        let l2 = two.step(on: data)
        #expect(l1.tokens == l2.tokens)
        #expect(abs(l1.lossSum - l2.lossSum) <= 1e-4 * l1.lossSum)
        for i in 0..<model.parameters.count {
            #expect(abs(one.model.parameters[i] - two.model.parameters[i]) <= 1e-5)
        }
    }

    @Test("local training returns the delta from the starting weights")
    func localDelta() throws {
        let model = try LSTMLanguageModel(config: Self.tiny)
        let data = Self.corpus(count: 10, seed: 8)
        let result = model.trainLocally(
            on: data, epochs: 2, options: TrainingOptions(batchSize: 4, learningRate: 0.3, seed: 7))
        let trainer = LSTMTrainer(model: model, options: TrainingOptions(batchSize: 4, learningRate: 0.3, seed: 7))
        _ = trainer.train(data, epochs: 2)
        for i in 0..<model.parameters.count {
            #expect(
                model.parameters[i] + result.delta[i] == trainer.model.parameters[i]
                    || abs(model.parameters[i] + result.delta[i] - trainer.model.parameters[i]) < 1e-6)
        }
        #expect(result.tokenCount == data.reduce(0) { $0 + $1.count + 1 })
    }
}

/// A local SplitMix so tests do not depend on FederatedCore's API surface.
struct SplitMixForTests {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct TrainerReuseTests {
    @Test("a reused trainer gives the same local delta as a fresh one")
    func reuse() throws {
        let model = try LSTMLanguageModel(config: TrainingTests.tiny)
        let a = TrainingTests.corpus(count: 12, seed: 1)
        let b = TrainingTests.corpus(count: 9, seed: 2)
        let options = TrainingOptions(batchSize: 4, learningRate: 0.3, optimizer: .adam(clipNorm: 5), seed: 3)
        let trainer = LSTMTrainer(model: model, options: options)
        _ = trainer.trainLocally(from: model.parameters, on: a, epochs: 2)
        let reused = trainer.trainLocally(from: model.parameters, on: b, epochs: 2)
        let fresh = model.trainLocally(on: b, epochs: 2, options: options)
        #expect(reused.delta.elementsEqual(fresh.delta) { $0.bitPattern == $1.bitPattern })
    }
}
