import CBLAS
import Dispatch
import FederatedCore
import Foundation
public import LanguageModelTypes

/// What a progress callback sees after each minibatch.
public struct TrainingProgress: Sendable, Hashable {
    /// The epoch, from 0.
    public var epoch: Int
    /// Minibatches done in this epoch.
    public var batchesDone: Int
    /// Minibatches in this epoch.
    public var batchCount: Int
    /// Target tokens (words and `</s>`) trained on so far in this epoch.
    public var tokensDone: Int
    /// The mean cross-entropy (nats per token) so far in this epoch.
    public var meanLoss: Double
}

/// The result of local training on one device.
public struct LocalTrainingResult: Sendable {
    /// `trained − initial` weights, in the model's layout.
    public var delta: ContiguousArray<Float>
    /// The number of target tokens trained on per epoch (the FedAvg weight).
    public var tokenCount: Int
    /// The mean training cross-entropy of the last epoch (nats per token).
    public var meanLoss: Double
}

/// Trains an ``LSTMLanguageModel`` with minibatch backpropagation through time.
///
/// Owns per-worker scratch buffers; reuse one trainer for many steps. OpenBLAS is set to a
/// single thread on creation; parallelism comes from ``TrainingOptions/threads`` workers.
public final class LSTMTrainer {
    /// The model being trained; read it after training.
    public private(set) var model: LSTMLanguageModel
    /// The options in force (``trainLocally(from:on:epochs:seed:)`` may replace the seed).
    public private(set) var options: TrainingOptions
    private var optimizer: OptimizerState
    private var stepCount: UInt64 = 0
    /// FedProx's `w₀`: the weights local training started from (nil outside
    /// ``trainLocally(from:on:epochs:seed:)`` or with μ = 0).
    private var proximalAnchor: ContiguousArray<Float>?
    /// The step size in force (``TrainingOptions/learningRate`` decayed by epoch).
    public private(set) var currentLearningRate: Float
    private let graphs: [LSTMGraph<Float>]
    /// One gradient buffer per worker, in the model's layout.
    private let gradientBuffers: [UnsafeMutablePointer<Float>]

    /// Opt-in timing of each step's phases (``TrainingProfile``); nil (the default) reads no
    /// clock. Only for one worker (`threads: 1`).
    public var profile: TrainingProfile? {
        didSet {
            precondition(profile == nil || graphs.count == 1, "profiling needs threads: 1")
            graphs[0].profile = profile
        }
    }

    /// Creates a trainer for a model.
    public init(model: LSTMLanguageModel, options: TrainingOptions) {
        precondition(options.batchSize >= 1, "batchSize must be at least 1")
        precondition(options.threads == 1 || options.threads == 2, "threads must be 1 or 2")
        precondition(options.dropout >= 0 && options.dropout < 1, "dropout must be in 0..<1")
        openblas_set_num_threads(1)
        self.model = model
        self.options = options
        self.optimizer = OptimizerState(kind: options.optimizer, parameterCount: model.layout.parameterCount)
        self.currentLearningRate = options.learningRate
        self.graphs = (0..<options.threads).map { _ in LSTMGraph<Float>(config: model.config) }
        self.gradientBuffers = (0..<options.threads).map { _ in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: model.layout.parameterCount)
            p.initialize(repeating: 0, count: model.layout.parameterCount)
            return p
        }
    }

    deinit {
        for p in gradientBuffers { p.deallocate() }
    }

    /// Replaces the weights and clears the optimizer state (Adam moments, step count), keeping
    /// the scratch buffers: lets one trainer per thread serve many simulated devices.
    ///
    /// - Precondition: `parameters` has the model's parameter count.
    public func resetWeights(to parameters: ContiguousArray<Float>) {
        precondition(parameters.count == model.layout.parameterCount, "parameter count mismatch")
        model.parameters = parameters
        optimizer = OptimizerState(kind: options.optimizer, parameterCount: model.layout.parameterCount)
        stepCount = 0
    }

    /// The federated client's local update with this trainer's buffers: starts from
    /// `parameters`, trains `epochs` epochs on `messages`, and returns `trained − parameters`.
    ///
    /// Same result as ``LSTMLanguageModel/trainLocally(on:epochs:options:)`` with these options.
    ///
    /// - Parameter seed: the shuffle/dropout seed for this device and round (the federated
    ///   runner's is `SplitMix64.derivedSeed(run, streams: 0x10CA1, round, device)`); `nil`
    ///   keeps ``options``' seed.
    public func trainLocally(
        from parameters: ContiguousArray<Float>, on messages: [[Int32]], epochs: Int, seed: UInt64? = nil
    ) -> LocalTrainingResult {
        if let seed { options.seed = seed }
        resetWeights(to: parameters)
        proximalAnchor = options.proximalMu > 0 ? parameters : nil
        defer { proximalAnchor = nil }
        var last = 0.0
        for e in 0..<epochs { last = trainEpoch(messages, epoch: e) }
        var delta = model.parameters
        parameters.withUnsafeBufferPointer { p in
            delta.withUnsafeMutableBufferPointer { d in
                for i in 0..<d.count { d[i] -= p[i] }
            }
        }
        let limit = options.maxMessageLength
        let tokens = messages.reduce(0) { $0 + (limit > 0 ? min($1.count, limit) : $1.count) + 1 }
        return LocalTrainingResult(delta: delta, tokenCount: tokens, meanLoss: last)
    }

    /// One optimizer step on one minibatch.
    ///
    /// - Parameter batch: messages as word ids (`1..<V+4`, no `<s>`/`</s>`).
    /// - Returns: the summed cross-entropy (nats) and the number of target tokens.
    @discardableResult
    public func step(on batch: [[Int32]]) -> (lossSum: Double, tokens: Int) {
        let profile = self.profile
        profile?.begin()
        let batch = clipped(batch)
        let tokens = batch.reduce(0) { $0 + $1.count + 1 }
        guard tokens > 0 else { return (0, 0) }
        let scale = 1 / Float(tokens)
        let count = model.layout.parameterCount
        var loss = 0.0
        let gradientBuffers = self.gradientBuffers
        let graphs = self.graphs
        stepCount += 1
        for (w, graph) in graphs.enumerated() {
            graph.dropout = options.dropout
            var stream = SplitMix64(seed: options.seed, streams: 0xD50, stepCount, UInt64(w))
            graph.dropoutSeed = stream.next()
        }
        model.parameters.withUnsafeMutableBufferPointer { pb in
            let p = pb.baseAddress!
            if graphs.count == 1 || batch.count < 2 {
                graphs[0].prepare(batch)
                profile?.lap(.packing)
                loss = graphs[0].run(parameters: p, gradients: gradientBuffers[0], lossScale: scale)
            } else {
                // Balance the halves: sort by length and deal alternately.
                let order = batch.indices.sorted {
                    batch[$0].count != batch[$1].count ? batch[$0].count > batch[$1].count : $0 < $1
                }
                graphs[0].prepare(stride(from: 0, to: order.count, by: 2).map { batch[order[$0]] })
                graphs[1].prepare(stride(from: 1, to: order.count, by: 2).map { batch[order[$0]] })
                let losses = UnsafeMutablePointer<Double>.allocate(capacity: 2)
                defer { losses.deallocate() }
                let work = WorkerPointers(parameters: p, gradients: gradientBuffers, losses: losses, graphs: graphs)
                DispatchQueue.concurrentPerform(iterations: 2) { w in
                    work.losses[w] = work.graphs[w].run(
                        parameters: work.parameters, gradients: work.gradients[w], lossScale: scale)
                }
                loss = losses[0] + losses[1]
                let g0 = gradientBuffers[0]
                let g1 = gradientBuffers[1]
                for i in 0..<count { g0[i] += g1[i] }
            }
            profile?.lap(.other)
            if let anchor = proximalAnchor {
                // FedProx: the gradient of μ/2·‖w − w₀‖² is μ·(w − w₀).
                let mu = options.proximalMu
                let g = gradientBuffers[0]
                anchor.withUnsafeBufferPointer { a in
                    for i in 0..<count { g[i] += mu * (p[i] - a[i]) }
                }
            }
            _ = optimizer.apply(gradients: gradientBuffers[0], to: p, count: count, learningRate: currentLearningRate)
            profile?.lap(.optimizer)
        }
        profile?.finishStep(tokens: tokens)
        return (loss, tokens)
    }

    /// One pass over `messages` in an order shuffled by `(seed, epoch)`.
    ///
    /// - Returns: the mean training cross-entropy (nats per target token).
    @discardableResult
    public func trainEpoch(
        _ messages: [[Int32]], epoch: Int, progress: ((TrainingProgress) -> Void)? = nil
    ) -> Double {
        var order = Array(messages.indices)
        currentLearningRate = options.learningRate * Float(pow(Double(options.learningRateDecay), Double(epoch)))
        var rng = SplitMix64(seed: options.seed, streams: UInt64(epoch))
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        let batchCount = (order.count + options.batchSize - 1) / options.batchSize
        var lossSum = 0.0
        var tokens = 0
        for b in 0..<batchCount {
            let lo = b * options.batchSize
            let hi = min(order.count, lo + options.batchSize)
            let (l, n) = step(on: order[lo..<hi].map { messages[$0] })
            lossSum += l
            tokens += n
            progress?(
                TrainingProgress(
                    epoch: epoch, batchesDone: b + 1, batchCount: batchCount, tokensDone: tokens,
                    meanLoss: tokens > 0 ? lossSum / Double(tokens) : 0))
        }
        return tokens > 0 ? lossSum / Double(tokens) : 0
    }

    /// Several epochs; returns the mean training loss of each.
    public func train(
        _ messages: [[Int32]], epochs: Int, progress: ((TrainingProgress) -> Void)? = nil
    ) -> [Double] {
        (0..<epochs).map { trainEpoch(messages, epoch: $0, progress: progress) }
    }

    /// The mean cross-entropy (nats per target token, including `</s>`) of the current model.
    public func evaluateLoss(_ messages: [[Int32]], batchSize: Int = 32) -> Double {
        model.meanLoss(on: messages, batchSize: batchSize, graph: graphs[0], maxMessageLength: options.maxMessageLength)
    }

    private func clipped(_ batch: [[Int32]]) -> [[Int32]] {
        let limit = options.maxMessageLength
        guard limit > 0, batch.contains(where: { $0.count > limit }) else { return batch }
        return batch.map { $0.count > limit ? Array($0.prefix(limit)) : $0 }
    }
}

/// Raw pointers handed to the two workers of one step.
// @unchecked Sendable: each worker writes only its own gradient buffer and loss slot, the
// parameters are read-only during the step, and the owner waits for both to finish.
private struct WorkerPointers: @unchecked Sendable {
    let parameters: UnsafeMutablePointer<Float>
    let gradients: [UnsafeMutablePointer<Float>]
    let losses: UnsafeMutablePointer<Double>
    let graphs: [LSTMGraph<Float>]
}

extension LSTMLanguageModel {
    /// The mean cross-entropy (nats per target token, `</s>` included) over messages.
    public func meanLoss(on messages: [[Int32]], batchSize: Int = 32, maxMessageLength: Int = 64) -> Double {
        meanLoss(
            on: messages, batchSize: batchSize, graph: LSTMGraph<Float>(config: config),
            maxMessageLength: maxMessageLength)
    }

    func meanLoss(on messages: [[Int32]], batchSize: Int, graph: LSTMGraph<Float>, maxMessageLength: Int) -> Double {
        var lossSum = 0.0
        var tokens = 0
        var lo = 0
        while lo < messages.count {
            let hi = min(messages.count, lo + batchSize)
            let batch = messages[lo..<hi].map {
                maxMessageLength > 0 && $0.count > maxMessageLength ? Array($0.prefix(maxMessageLength)) : $0
            }
            graph.prepare(batch)
            tokens += graph.rowCount
            lossSum += parameters.withUnsafeBufferPointer {
                graph.run(parameters: $0.baseAddress!, gradients: nil, lossScale: 1)
            }
            lo = hi
        }
        return tokens > 0 ? lossSum / Double(tokens) : 0
    }

    /// Trains a copy of this model on one device's messages and returns the weight delta:
    /// the federated client's local update.
    ///
    /// - Parameters:
    ///   - messages: the device's messages as word ids.
    ///   - epochs: local epochs `E`.
    ///   - options: batch size, learning rate, optimizer (normally `.sgd(clipNorm:)`), and the
    ///     shuffle seed — derive it from (run seed, device, round) for reproducibility.
    /// - Returns: `trained − self` in this model's layout, the tokens per epoch, and the last
    ///   epoch's mean loss.
    public func trainLocally(on messages: [[Int32]], epochs: Int, options: TrainingOptions) -> LocalTrainingResult {
        LSTMTrainer(model: self, options: options).trainLocally(from: parameters, on: messages, epochs: epochs)
    }
}
