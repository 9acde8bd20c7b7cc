import Foundation
import LanguageModelTypes
import Testing

@testable import LanguageModels

/// The peak loop, the FLOP count the benchmark divides by, and the opt-in profile.
@Suite("Training profile and peak")
struct TrainingProfileTests {
    @Test("the FMA peak loop computes what a scalar loop and a Double recurrence compute")
    func fmaLoopMatchesReference() {
        let iterations = 1000
        let got = PeakFLOPS.fmaChains(iterations: iterations, multiplier: 0.999, addend: 1e-3)
        let bases: [Float] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
        let offsets: [Float] = [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11]
        for lane in 0..<8 {
            // Brute force in Float: the same 12 chains, one fused multiply-add at a time, summed
            // in the loop's order; and the recurrence in Double.
            var partial = [Float](repeating: 0, count: 12)
            var doubleSum = 0.0
            for chain in 0..<12 {
                var c = bases[lane] + offsets[chain]
                var d = Double(c)
                for _ in 0..<iterations {
                    c = Float(1e-3).addingProduct(c, 0.999)
                    d = Double(Float(1e-3)) + d * Double(Float(0.999))
                }
                partial[chain] = c
                doubleSum += d
            }
            let floatSum =
                ((partial[0] + partial[1]) + (partial[2] + partial[3]))
                + ((partial[4] + partial[5]) + (partial[6] + partial[7]))
                + ((partial[8] + partial[9]) + (partial[10] + partial[11]))
            #expect(got[lane] == floatSum, "lane \(lane)")
            #expect(abs(Double(got[lane]) - doubleSum) <= 1e-5 * doubleSum, "lane \(lane)")
        }
    }

    @Test("the peak measurement reports a positive, finite GFLOP/s")
    func peakIsPositive() {
        let g = PeakFLOPS.measureGFLOPS(iterations: 100_000, repeats: 2)
        #expect(g.isFinite && g > 0)
    }

    @Test("the matrix FLOP count equals the sum over the step's products")
    func flopCountMatchesProducts() {
        for config in [
            ModelConfig(name: "a", vocabularySize: 13, embedding: 4, hidden: 5, projection: 3, cell: .cifg, seed: 1),
            ModelConfig(name: "b", vocabularySize: 11, embedding: 5, hidden: 6, projection: 0, cell: .lstm, seed: 1),
        ] {
            let batch: [[Int32]] = [[4, 5, 6], [], [7]]
            // Brute force: rows per step from the packing, then each product's m·n·k.
            let lengths = batch.map { $0.count + 1 }
            let steps = lengths.max()!
            let active = (0..<steps).map { t in lengths.filter { $0 > t }.count }
            let n = active.reduce(0, +)
            let e = config.embedding
            let h = config.hidden
            let g = config.cell.gateBlockCount * h
            let d = config.projection > 0 ? config.projection : h
            let v = config.vocabularySize
            var products: [(Int, Int, Int)] = []
            products.append((n, g, e))  // input gates
            for t in 1..<steps { products.append((active[t], g, h)) }  // recurrent gates
            if config.projection > 0 { products.append((n, d, h)) }
            products.append((n, v, d))  // logits
            products.append((v, d, n))  // embedding gradient from the softmax
            products.append((n, d, v))  // gradient into y
            if config.projection > 0 {
                products.append((h, d, n))
                products.append((n, h, d))
            }
            for t in 1..<steps { products.append((active[t], h, g)) }  // into the previous state
            products.append((e, g, n))  // input kernel gradient
            products.append((h, g, n - active[0]))  // recurrent kernel gradient
            products.append((n, e, g))  // into the input
            let brute = products.reduce(0.0) { $0 + 2 * Double($1.0 * $1.1 * $1.2) }
            #expect(LSTMBenchmark.trainingMatrixFLOPs(config: config, batch: batch) == brute, "\(config.name)")
        }
    }

    @Test("a profiled run trains bit-identically to an unprofiled one and accounts for its steps")
    func profilingChangesNothing() throws {
        let config = ModelConfig(
            name: "lstm-tiny", vocabularySize: 40, embedding: 8, hidden: 12, projection: 8, cell: .cifg, seed: 1)
        let data = TrainingTests.corpus(count: 40, seed: 4)
        func run(profile: TrainingProfile?) throws -> ContiguousArray<Float> {
            let trainer = LSTMTrainer(
                model: try LSTMLanguageModel(config: config),
                options: TrainingOptions(batchSize: 8, learningRate: 0.5, optimizer: .sgd(clipNorm: 5), seed: 7))
            trainer.profile = profile
            _ = trainer.train(data, epochs: 2)
            return trainer.model.parameters
        }
        let profile = TrainingProfile()
        let a = try run(profile: nil)
        let b = try run(profile: profile)
        #expect(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern })
        #expect(profile.steps == 10)
        #expect(profile.tokens == 2 * data.reduce(0) { $0 + $1.count + 1 })
        #expect(profile.totalSeconds > 0)
        #expect(profile.seconds(.outputProducts) > 0 && profile.seconds(.softmax) > 0)
    }
}
