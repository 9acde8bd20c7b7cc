import Dispatch
import Foundation
public import LanguageModelTypes

/// Throughput and latency measurements of the neural model, for `kbd-sim bench lstm` and
/// `tools/bench_lstm.py`.
///
/// Messages are synthetic but deterministic and shared with the PyTorch reference
/// (`tools/torch_lstm.py`): message `i` has `5 + (7·i mod 21)` words (mean 15, plus `</s>`)
/// with ids `4 + ((131·i + 17·t) mod (V − 4))`.
public enum LSTMBenchmark {
    /// How a two-thread training run uses its threads.
    public enum Parallelism: String, Sendable, CaseIterable {
        /// One worker, one thread.
        case single
        /// Each batch split in two halves on two threads, gradients summed (one model).
        case dataParallel
        /// Two independent trainers, one per thread (two simulated devices); tokens/s summed.
        case independent
    }

    /// One training measurement.
    public struct TrainingResult: Sendable {
        /// Messages per batch.
        public var batchSize: Int
        /// Thread use.
        public var parallelism: Parallelism
        /// Target tokens trained per second (best of the repeats).
        public var tokensPerSecond: Double
        /// Seconds per optimizer step (best of the repeats), per trainer.
        public var secondsPerStep: Double
    }

    /// The synthetic benchmark message `i` for a vocabulary of `vocabularySize` ids.
    public static func message(_ i: Int, vocabularySize: Int) -> [Int32] {
        let length = 5 + (7 * i) % 21
        return (0..<length).map { t in Int32(4 + (131 * i + 17 * t) % (vocabularySize - 4)) }
    }

    /// Measures SGD training throughput.
    ///
    /// - Parameters:
    ///   - config: the model shape.
    ///   - batchSize: messages per step.
    ///   - parallelism: how two threads are used (or `.single`).
    ///   - steps: timed steps per repeat (after 2 warm-up steps).
    ///   - repeats: the best repeat is reported (the machine is shared).
    public static func measureTraining(
        config: ModelConfig, batchSize: Int, parallelism: Parallelism, steps: Int, repeats: Int = 3
    ) throws -> TrainingResult {
        let model = try LSTMLanguageModel(config: config)
        let workers = parallelism == .independent ? 2 : 1
        let threads = parallelism == .dataParallel ? 2 : 1
        let trainers = (0..<workers).map { _ in
            LSTMTrainer(
                model: model,
                options: TrainingOptions(
                    batchSize: batchSize, learningRate: 0.1, optimizer: .sgd(clipNorm: 5), threads: threads))
        }
        let batches = (0..<(steps + 2)).map { s in
            (0..<batchSize).map { message(s * batchSize + $0, vocabularySize: config.vocabularySize) }
        }
        let tokensPerStep = batches.map { $0.reduce(0) { $0 + $1.count + 1 } }
        let box = TrainerBox(trainers: trainers, batches: batches)
        var best = Double.infinity
        for _ in 0..<repeats {
            for b in 0..<2 { for t in trainers { t.step(on: batches[b]) } }
            let start = DispatchTime.now().uptimeNanoseconds
            if workers == 1 {
                for s in 2..<(steps + 2) { trainers[0].step(on: batches[s]) }
            } else {
                DispatchQueue.concurrentPerform(iterations: 2) { w in
                    for s in 2..<(steps + 2) { box.trainers[w].step(on: box.batches[s]) }
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let tokens = Double(tokensPerStep[2...].reduce(0, +) * workers)
        return TrainingResult(
            batchSize: batchSize, parallelism: parallelism, tokensPerSecond: tokens / best,
            secondsPerStep: best / Double(steps))
    }

    /// Measures one-word inference: `feed` plus `topK(3)`, mean seconds per word (best of
    /// `repeats` runs of `words` words).
    public static func measureInference(config: ModelConfig, words: Int, repeats: Int = 3) throws -> Double {
        let model = try LSTMLanguageModel(config: config)
        let predictor = LSTMPredictor(model: model)
        let ids = (0..<words).map { Int32(4 + (131 * $0) % (config.vocabularySize - 4)) }
        var best = Double.infinity
        var sink: Int32 = 0
        for _ in 0..<repeats {
            predictor.reset()
            let start = DispatchTime.now().uptimeNanoseconds
            for id in ids {
                predictor.feed(id)
                sink &+= predictor.topK(3)[0]
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(words))
        }
        if sink == -1 { print("") }
        return best
    }
}

// @unchecked Sendable: worker `w` uses only `trainers[w]`; the batches are read-only.
private final class TrainerBox: @unchecked Sendable {
    let trainers: [LSTMTrainer]
    let batches: [[[Int32]]]
    init(trainers: [LSTMTrainer], batches: [[[Int32]]]) {
        self.trainers = trainers
        self.batches = batches
    }
}
