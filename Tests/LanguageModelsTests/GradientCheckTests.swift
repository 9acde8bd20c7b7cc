import Foundation
import LanguageModelTypes
import Testing

@testable import LanguageModels

/// Backpropagation through time against central finite differences, in Double.
struct GradientCheckTests {
    static let configs: [ModelConfig] = [
        ModelConfig(name: "gc-cifg", vocabularySize: 13, embedding: 4, hidden: 5, projection: 4, cell: .cifg, seed: 3),
        ModelConfig(name: "gc-lstm", vocabularySize: 13, embedding: 4, hidden: 5, projection: 4, cell: .lstm, seed: 4),
        ModelConfig(
            name: "gc-cifg-noproj", vocabularySize: 11, embedding: 5, hidden: 5, projection: 0, cell: .cifg, seed: 5),
        ModelConfig(
            name: "gc-lstm-noproj", vocabularySize: 11, embedding: 5, hidden: 5, projection: 0, cell: .lstm, seed: 6),
    ]

    /// Lengths 4, 0, 2 and 1: the batch is ragged, so packing (the mask) is exercised.
    static let batch: [[Int32]] = [[4, 7, 1, 9], [], [5, 5], [10]]

    @Test("analytic gradients match central differences for every tensor", arguments: configs, [0.0, 0.4])
    func gradientsMatchFiniteDifferences(config: ModelConfig, dropout: Double) throws {
        let model = try LSTMLanguageModel(config: config)
        var p = model.parameters.map { Double($0) * 4 }  // larger weights: non-trivial gates
        let graph = LSTMGraph<Double>(config: config)
        graph.prepare(Self.batch)
        graph.dropout = dropout  // fixed masks (same seed every run), so the loss is a fixed function
        graph.dropoutSeed = 99
        // Finite differences need the same masks: evaluate the loss with dropout on, i.e. with
        // a gradients buffer present.
        var scratch = [Double](repeating: 0, count: p.count)
        var grad = [Double](repeating: .nan, count: p.count)
        _ = p.withUnsafeBufferPointer { pb in
            grad.withUnsafeMutableBufferPointer {
                graph.run(parameters: pb.baseAddress!, gradients: $0.baseAddress!, lossScale: 1)
            }
        }
        func loss() -> Double {
            p.withUnsafeBufferPointer { pb in
                scratch.withUnsafeMutableBufferPointer {
                    graph.run(parameters: pb.baseAddress!, gradients: $0.baseAddress!, lossScale: 1)
                }
            }
        }
        let step = 1e-5
        for tensor in model.layout.tensors {
            var worst = 0.0
            var diffNorm = 0.0
            var sumNorm = 0.0
            for i in tensor.range {
                let saved = p[i]
                p[i] = saved + step
                let up = loss()
                p[i] = saved - step
                let down = loss()
                p[i] = saved
                let numeric = (up - down) / (2 * step)
                let analytic = grad[i]
                diffNorm += (numeric - analytic) * (numeric - analytic)
                sumNorm += (abs(numeric) + abs(analytic)) * (abs(numeric) + abs(analytic))
                // Below 1e-5, central differences (error ~1e-10) are compared absolutely.
                let rel = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-5)
                worst = max(worst, rel)
            }
            #expect(worst < 1e-3, "\(config.name) \(tensor.name): max relative error \(worst)")
            print(
                "gradcheck \(config.name) dropout \(dropout) \(tensor.name): max relative error \(worst), tensor-norm relative error \(diffNorm.squareRoot() / max(sumNorm.squareRoot(), 1e-300))"
            )
            #expect(
                diffNorm.squareRoot() <= 1e-6 * max(sumNorm.squareRoot(), 1e-12) + 1e-12,
                "\(config.name) \(tensor.name)")
        }
    }

    @Test("the Float path computes the same loss and gradients as the Double path", arguments: configs)
    func floatMatchesDouble(config: ModelConfig) throws {
        let model = try LSTMLanguageModel(config: config)
        let pd = model.parameters.map { Double($0) * 4 }
        let pf = pd.map { Float($0) }
        let gd = LSTMGraph<Double>(config: config)
        let gf = LSTMGraph<Float>(config: config, softmaxChunkRows: 3)  // several softmax chunks
        gd.prepare(Self.batch)
        gf.prepare(Self.batch)
        var gradD = [Double](repeating: 0, count: pd.count)
        var gradF = [Float](repeating: 0, count: pd.count)
        let ld = pd.withUnsafeBufferPointer { p in
            gradD.withUnsafeMutableBufferPointer {
                gd.run(parameters: p.baseAddress!, gradients: $0.baseAddress!, lossScale: 0.5)
            }
        }
        let lf = pf.withUnsafeBufferPointer { p in
            gradF.withUnsafeMutableBufferPointer {
                gf.run(parameters: p.baseAddress!, gradients: $0.baseAddress!, lossScale: 0.5)
            }
        }
        #expect(abs(ld - lf) <= 1e-5 * abs(ld))
        for i in 0..<pd.count {
            #expect(abs(Double(gradF[i]) - gradD[i]) <= 1e-4 * max(1, abs(gradD[i])), "element \(i)")
        }
    }
}
