import FederatedCore
import Foundation
public import LanguageModelTypes

/// An embedding + LSTM (CIFG or plain) language model with tied input/output embeddings:
/// its configuration and all of its weights in one flat buffer.
///
/// The buffer's layout is ``ParameterLayout``; a federated update is a vector of the same
/// length, and ``ParameterLayout/layoutHash`` identifies the shape.
public struct LSTMLanguageModel: Sendable {
    /// The model's shape.
    public let config: ModelConfig
    /// Where each tensor lives in ``parameters``.
    public let layout: ParameterLayout
    /// Every weight, in layout order.
    public var parameters: ContiguousArray<Float>

    /// Creates a model with freshly initialized weights, determined by `config.seed`.
    ///
    /// Kernels are Glorot-uniform, the embedding is uniform in ±0.1, the forget-gate bias is
    /// 1 and the other biases 0.
    ///
    /// - Throws: ``NeuralModelError`` (`invalidConfig`) if the sizes are impossible.
    public init(config: ModelConfig) throws(NeuralModelError) {
        try config.validate()
        self.config = config
        self.layout = ParameterLayout(config: config)
        var rng = SplitMix64(seed: config.seed, streams: 0x4C53_544D)
        var p = ContiguousArray<Float>(repeating: 0, count: layout.parameterCount)
        let h = config.hidden
        for tensor in layout.tensors {
            let limit: Float
            switch tensor.name {
            case "embedding": limit = 0.1
            case "lstm.bias", "output.bias": limit = 0
            default: limit = (6 / Float(tensor.shape[0] + tensor.shape[1])).squareRoot()
            }
            if limit > 0 {
                for i in tensor.range { p[i] = (2 * rng.nextUnitFloat() - 1) * limit }
            }
            if tensor.name == "lstm.bias" {
                let forgetBlock = config.cell == .cifg ? 0 : 1
                for j in 0..<h { p[tensor.offset + forgetBlock * h + j] = 1 }
            }
        }
        self.parameters = p
    }

    /// Wraps existing weights.
    ///
    /// - Throws: ``NeuralModelError``: `invalidConfig` for impossible sizes, `shapeMismatch`
    ///   if the count differs from the layout's, `nonFiniteWeights` naming the first tensor
    ///   holding a NaN or infinity.
    public init(config: ModelConfig, parameters: ContiguousArray<Float>) throws(NeuralModelError) {
        try config.validate()
        let layout = ParameterLayout(config: config)
        guard parameters.count == layout.parameterCount else {
            throw NeuralModelError(
                .shapeMismatch, "expected \(layout.parameterCount) parameters, got \(parameters.count)")
        }
        if let bad = Self.firstNonFiniteTensor(parameters, layout: layout) {
            throw NeuralModelError(.nonFiniteWeights, "tensor '\(bad)' holds NaN or infinity")
        }
        self.config = config
        self.layout = layout
        self.parameters = parameters
    }

    /// The model's shape identifier (``ParameterLayout/layoutHash``).
    public var layoutHash: UInt64 { layout.layoutHash }

    /// The number of ids, `V + 4`.
    public var vocabularySize: Int { config.vocabularySize }

    /// A copy of one named tensor's weights.
    public func weights(of name: String) -> [Float] {
        Array(parameters[layout.requireTensor(named: name).range])
    }

    static func firstNonFiniteTensor(_ p: ContiguousArray<Float>, layout: ParameterLayout) -> String? {
        p.withUnsafeBufferPointer { buf in
            for tensor in layout.tensors {
                var ok = true
                for i in tensor.range where !buf[i].isFinite {
                    ok = false
                    break
                }
                if !ok { return tensor.name }
            }
            return nil
        }
    }
}

extension LSTMLanguageModel {
    /// Sets `output.bias` to the log unigram distribution of the targets in `messages`
    /// (words and `</s>`, add-one smoothed), so training starts from the unigram model instead
    /// of the uniform one. A common initialization for softmax language models; optional.
    public mutating func initializeOutputBiasFromUnigram(of messages: [[Int32]]) {
        let v = config.vocabularySize
        var counts = [Double](repeating: 1, count: v)
        var total = Double(v)
        for m in messages {
            for id in m where id >= 0 && Int(id) < v { counts[Int(id)] += 1 }
            counts[3] += 1
            total += Double(m.count + 1)
        }
        let bias = layout.requireTensor(named: "output.bias")
        let logTotal = log(total)
        for i in 0..<v { parameters[bias.offset + i] = Float(log(counts[i]) - logTotal) }
    }

    /// Sets `output.bias` to a Zipf prior over the vocabulary's frequency ranks,
    /// `p(word of rank r) ∝ 1 / (r + 2.7)`, with `</s>` as frequent as the top word and
    /// `<unk>` as rank 10: the federated counterpart of
    /// ``initializeOutputBiasFromUnigram(of:)``. It needs no client text, only the ranked
    /// vocabulary every device already has (ids from 4 are words by descending frequency).
    public mutating func initializeOutputBiasFromRanks() {
        let v = config.vocabularySize
        var weights = [Double](repeating: 0, count: v)
        for id in 0..<v {
            switch id {
            case 0, 2: weights[id] = 0
            case 1: weights[id] = 1 / (10 + 2.7)
            case 3: weights[id] = 1 / 2.7
            default: weights[id] = 1 / (Double(id - 4) + 2.7)
            }
        }
        let logTotal = log(weights.reduce(0, +))
        let floor = log(1 / (Double(v) + 2.7)) - logTotal
        let bias = layout.requireTensor(named: "output.bias")
        for id in 0..<v {
            parameters[bias.offset + id] = Float(weights[id] > 0 ? log(weights[id]) - logTotal : floor)
        }
    }
}
