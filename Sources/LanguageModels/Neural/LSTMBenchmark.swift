import Dispatch
import FederatedCore
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
        /// Matrix-product GFLOP/s of the best repeat: ``trainingMatrixFLOPs(config:batch:)``
        /// summed over the timed steps, divided by the time (all workers).
        public var matrixGFLOPS: Double
        /// Mean target tokens per timed step (per trainer).
        public var tokensPerStep: Double
    }

    /// The synthetic benchmark message `i` for a vocabulary of `vocabularySize` ids.
    public static func message(_ i: Int, vocabularySize: Int) -> [Int32] {
        let length = 5 + (7 * i) % 21
        return (0..<length).map { t in Int32(4 + (131 * i + 17 * t) % (vocabularySize - 4)) }
    }

    /// `count` batches of `batchSize` fixed-length synthetic messages (``message(_:vocabularySize:)``),
    /// as `tools/torch_lstm.py` builds them.
    public static func syntheticBatches(config: ModelConfig, batchSize: Int, count: Int) -> [[[Int32]]] {
        (0..<count).map { s in
            (0..<batchSize).map { message(s * batchSize + $0, vocabularySize: config.vocabularySize) }
        }
    }

    /// `count` batches of `batchSize` real messages: `messages` shuffled by `seed` (as an
    /// epoch of ``LSTMTrainer`` shuffles them), cut to `maxMessageLength` words, taken in
    /// order and wrapping around if there are too few.
    public static func corpusBatches(
        messages: [[Int32]], batchSize: Int, count: Int, maxMessageLength: Int = 64, seed: UInt64 = 1
    ) -> [[[Int32]]] {
        precondition(!messages.isEmpty, "no messages")
        var order = Array(messages.indices)
        var rng = SplitMix64(seed: seed, streams: 0)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        var next = 0
        return (0..<count).map { _ in
            (0..<batchSize).map { _ in
                let m = messages[order[next % order.count]]
                next += 1
                return maxMessageLength > 0 && m.count > maxMessageLength ? Array(m.prefix(maxMessageLength)) : m
            }
        }
    }

    /// The floating-point operations of the matrix products in one training step (forward and
    /// backward) on `batch`, counting a multiply-add as 2.
    ///
    /// With `n` target tokens (rows), `b` messages, embedding `e`, gates `g` (3h for CIFG, 4h for
    /// LSTM), hidden `h`, projection `d` (`h` and no projection product when it is 0) and
    /// vocabulary `V`, the forward products are `2n·e·g` (input gates), `2(n − b)·h·g`
    /// (recurrent gates; the first step has no previous state), `2n·h·d` (projection) and
    /// `2n·d·V` (tied softmax); backward has two products of the same size per forward one
    /// (gradient into the input and into the weight), so the step is
    /// `6n·(e·g + h·d + d·V) + 6(n − b)·h·g`. Elementwise work (gates, softmax) is not counted:
    /// a few dozen operations per hidden unit and per vocabulary entry, against `6d` per
    /// vocabulary entry and `6(e + h)` per gate in the products.
    public static func trainingMatrixFLOPs(config: ModelConfig, batch: [[Int32]]) -> Double {
        let n = Double(batch.reduce(0) { $0 + $1.count + 1 })
        let b = Double(batch.count)
        let e = Double(config.embedding)
        let h = Double(config.hidden)
        let g = Double(config.cell.gateBlockCount * config.hidden)
        let v = Double(config.vocabularySize)
        let d = config.projection > 0 ? Double(config.projection) : h
        let projection = config.projection > 0 ? h * d : 0
        return 6 * n * (e * g + projection + d * v) + 6 * (n - b) * h * g
    }

    /// Measures SGD training throughput on fixed-length synthetic messages.
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
        try measureTraining(
            config: config, batches: syntheticBatches(config: config, batchSize: batchSize, count: steps + 2),
            parallelism: parallelism, repeats: repeats)
    }

    /// Measures SGD training throughput on given batches: the first two warm up, the rest are
    /// timed, `repeats` times; the best repeat is reported.
    ///
    /// - Parameter profile: when set (single thread only), collects the phase times of the
    ///   timed steps of every repeat.
    public static func measureTraining(
        config: ModelConfig, batches: [[[Int32]]], parallelism: Parallelism, repeats: Int = 3,
        profile: TrainingProfile? = nil
    ) throws -> TrainingResult {
        precondition(batches.count >= 3, "need 2 warm-up batches and at least one timed batch")
        let model = try LSTMLanguageModel(config: config)
        let workers = parallelism == .independent ? 2 : 1
        let threads = parallelism == .dataParallel ? 2 : 1
        let batchSize = batches[0].count
        let trainers = (0..<workers).map { _ in
            LSTMTrainer(
                model: model,
                options: TrainingOptions(
                    batchSize: batchSize, learningRate: 0.1, optimizer: .sgd(clipNorm: 5), threads: threads))
        }
        let steps = batches.count - 2
        let tokensPerStep = batches.map { $0.reduce(0) { $0 + $1.count + 1 } }
        let box = TrainerBox(trainers: trainers, batches: batches)
        var best = Double.infinity
        for _ in 0..<repeats {
            for b in 0..<2 { for t in trainers { t.step(on: batches[b]) } }
            if let profile { trainers[0].profile = profile }
            let start = DispatchTime.now().uptimeNanoseconds
            if workers == 1 {
                for s in 2..<(steps + 2) { trainers[0].step(on: batches[s]) }
            } else {
                DispatchQueue.concurrentPerform(iterations: 2) { w in
                    for s in 2..<(steps + 2) { box.trainers[w].step(on: box.batches[s]) }
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            trainers[0].profile = nil
        }
        let tokens = Double(tokensPerStep[2...].reduce(0, +) * workers)
        let flops = batches[2...].reduce(0) { $0 + trainingMatrixFLOPs(config: config, batch: $1) } * Double(workers)
        return TrainingResult(
            batchSize: batchSize, parallelism: parallelism, tokensPerSecond: tokens / best,
            secondsPerStep: best / Double(steps), matrixGFLOPS: flops / best / 1e9,
            tokensPerStep: tokens / Double(workers * steps))
    }

    /// The recurrent step's two products timed side by side: `sgemm` against ``SmallRowGEMM``.
    public struct ProductComparison: Sendable {
        /// Rows (messages running at the step).
        public var rows: Int
        /// GFLOP/s (median of the rounds) of the forward product `gates += h·Wh` through `sgemm`
        /// (as the code before the own kernel ran it, on `Wh` itself).
        public var forwardOpenBLAS: Double
        /// The same with the own kernel, on the transposed `Wh` the graph keeps (the transpose,
        /// once per batch, not timed).
        public var forwardOwn: Double
        /// GFLOP/s of the backward product `dh += dgates·Whᵀ` through `sgemm`.
        public var backwardOpenBLAS: Double
        /// The same with the own kernel.
        public var backwardOwn: Double
        /// The largest |own − sgemm| over both outputs, relative to Σ|a·b| of that element.
        public var maxRelativeDifference: Double
    }

    /// Times the recurrent products of `config` with `rows` rows, `sgemm` and the own kernel
    /// alternating, `rounds` rounds (each about 20 ms per variant); reports medians.
    public static func compareRecurrentProducts(config: ModelConfig, rows: Int, rounds: Int = 5) -> ProductComparison {
        let h = config.hidden
        let g = config.cell.gateBlockCount * h
        var rng = SplitMix64(seed: 5, streams: UInt64(rows))
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 } }
        let a = values(rows * h)
        let w = values(h * g)
        let dg = values(rows * g)
        var wT = [Float](repeating: 0, count: h * g)
        w.withUnsafeBufferPointer { wp in
            wT.withUnsafeMutableBufferPointer { transpose(wp.baseAddress!, rows: h, columns: g, into: $0.baseAddress!) }
        }
        var c1 = [Float](repeating: 0, count: rows * g)
        var c2 = c1
        var d1 = [Float](repeating: 0, count: rows * h)
        var d2 = d1
        let flops = 2 * Double(rows * h * g)
        let reps = max(1, Int(2e-2 * 30e9 / flops))
        var times = [[Double]](repeating: [], count: 4)
        a.withUnsafeBufferPointer { ap in
            w.withUnsafeBufferPointer { wp in
                dg.withUnsafeBufferPointer { dp in
                    wT.withUnsafeBufferPointer { wtp in
                        let wT = wtp.baseAddress!
                        let a = ap.baseAddress!
                        let w = wp.baseAddress!
                        let dg = dp.baseAddress!
                        func time(_ body: () -> Void) -> Double {
                            let start = DispatchTime.now().uptimeNanoseconds
                            for _ in 0..<reps { body() }
                            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                        }
                        c1.withUnsafeMutableBufferPointer { c1p in
                            c2.withUnsafeMutableBufferPointer { c2p in
                                d1.withUnsafeMutableBufferPointer { d1p in
                                    d2.withUnsafeMutableBufferPointer { d2p in
                                        let c1 = c1p.baseAddress!
                                        let c2 = c2p.baseAddress!
                                        let d1 = d1p.baseAddress!
                                        let d2 = d2p.baseAddress!
                                        for _ in 0..<rounds {
                                            times[0].append(
                                                time {
                                                    Float.gemm(
                                                        transA: false, transB: false, m: rows, n: g, k: h, alpha: 1,
                                                        a: a,
                                                        lda: h, b: w, ldb: g, beta: 0, c: c1, ldc: g)
                                                })
                                            times[1].append(
                                                time {
                                                    c2.update(repeating: 0, count: rows * g)
                                                    SmallRowGEMM.multiplyAddTransposed(
                                                        m: rows, n: g, k: h, a: a, lda: h, b: wT, ldb: h, c: c2, ldc: g)
                                                })
                                            times[2].append(
                                                time {
                                                    Float.gemm(
                                                        transA: false, transB: true, m: rows, n: h, k: g, alpha: 1,
                                                        a: dg,
                                                        lda: g, b: w, ldb: g, beta: 0, c: d1, ldc: h)
                                                })
                                            times[3].append(
                                                time {
                                                    d2.update(repeating: 0, count: rows * h)
                                                    SmallRowGEMM.multiplyAddTransposed(
                                                        m: rows, n: h, k: g, a: dg, lda: g, b: w, ldb: g, c: d2, ldc: h)
                                                })
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var worst = 0.0
        for i in 0..<rows {
            for j in 0..<g {
                var bound = 0.0
                for p in 0..<h { bound += abs(Double(a[i * h + p]) * Double(w[p * g + j])) }
                worst = max(worst, abs(Double(c1[i * g + j]) - Double(c2[i * g + j])) / max(bound, 1e-30))
            }
            for j in 0..<h {
                var bound = 0.0
                for p in 0..<g { bound += abs(Double(dg[i * g + p]) * Double(w[j * g + p])) }
                worst = max(worst, abs(Double(d1[i * h + j]) - Double(d2[i * h + j])) / max(bound, 1e-30))
            }
        }
        func rate(_ t: [Double]) -> Double { flops * Double(reps) / t.sorted()[t.count / 2] / 1e9 }
        return ProductComparison(
            rows: rows, forwardOpenBLAS: rate(times[0]), forwardOwn: rate(times[1]), backwardOpenBLAS: rate(times[2]),
            backwardOwn: rate(times[3]), maxRelativeDifference: worst)
    }

    /// Seconds per row (median of `rounds`) of the softmax layer's elementwise work on
    /// `rows` rows of `vocabularySize` logits, the unfused way (bias copied in before the
    /// product, softmax, one-hot, scale, bias gradient) and fused
    /// (``FastMath/softmaxCrossEntropy(_:bias:count:target:gradientScale:biasGradient:)``),
    /// alternating. The product itself is not timed; the logits are rewritten before each run.
    public static func compareSoftmax(rows: Int, vocabularySize v: Int = 10_004, rounds: Int = 7) -> (
        unfused: Double, fused: Double
    ) {
        var rng = SplitMix64(seed: 3, streams: UInt64(rows))
        let source = (0..<(rows * v)).map { _ in rng.nextUnitFloat() * 8 - 4 }
        let bias = (0..<v).map { _ in rng.nextUnitFloat() - 0.5 }
        var logits = source
        var biasGradient = [Float](repeating: 0, count: v)
        var times: [[Double]] = [[], []]
        let scale = 1 / Float(rows)
        for _ in 0..<rounds {
            for variant in 0..<2 {
                logits.withUnsafeMutableBufferPointer { l in
                    source.withUnsafeBufferPointer { l.baseAddress!.update(from: $0.baseAddress!, count: rows * v) }
                }
                let start = DispatchTime.now().uptimeNanoseconds
                logits.withUnsafeMutableBufferPointer { lp in
                    bias.withUnsafeBufferPointer { bp in
                        biasGradient.withUnsafeMutableBufferPointer { gp in
                            let l = lp.baseAddress!
                            let b = bp.baseAddress!
                            let g = gp.baseAddress!
                            if variant == 0 {
                                // What the graph did before: add the bias (it was copied in and the
                                // product accumulated onto it), then the separate passes.
                                for r in 0..<rows { for j in 0..<v { l[r * v + j] += b[j] } }
                                for r in 0..<rows {
                                    let row = l + r * v
                                    let target = 4 + r % (v - 4)
                                    _ = FastMath.softmaxExcludingPadAndBOS(row, count: v)
                                    row[target] -= 1
                                    for j in 0..<v { row[j] *= scale }
                                }
                                for r in 0..<rows { for j in 0..<v { g[j] += l[r * v + j] } }
                            } else {
                                for r in 0..<rows {
                                    _ = FastMath.softmaxCrossEntropy(
                                        l + r * v, bias: b, count: v, target: 4 + r % (v - 4), gradientScale: scale,
                                        biasGradient: g)
                                }
                            }
                        }
                    }
                }
                times[variant].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(rows))
            }
        }
        return (times[0].sorted()[rounds / 2], times[1].sorted()[rounds / 2])
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
