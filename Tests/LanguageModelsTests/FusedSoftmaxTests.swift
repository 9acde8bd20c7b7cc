import Foundation
import Testing

@testable import LanguageModels

/// The fused softmax + cross-entropy + gradient against a Double reference and the unfused
/// Float path it replaces.
@Suite("Fused softmax cross-entropy")
struct FusedSoftmaxTests {
    static func row(_ count: Int, seed: UInt64, spread: Float) -> [Float] {
        var rng = SplitMixForTests(seed: seed)
        return (0..<count).map { _ in (Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1) * spread }
    }

    @Test(
        "loss, gradient and bias gradient match Double and the unfused path",
        arguments: [3, 5, 15, 16, 17, 19, 33, 10004], [1, 3, 1_000_000])
    func matchesReference(count: Int, target: Int) {
        let logits = Self.row(count, seed: UInt64(count), spread: 8)
        let bias = Self.row(count, seed: UInt64(count) + 99, spread: 2)
        let start = Self.row(count, seed: UInt64(count) + 7, spread: 0.1)  // bias gradient so far
        let scale: Float = 0.25
        // 1_000_000 stands for the last id: a target in the partial last vector.
        let t = min(target, count - 1) == 2 ? 1 : min(target, count - 1)

        // Double reference: softmax over ids other than 0 and 2.
        let z = (0..<count).map { Double(logits[$0]) + Double(bias[$0]) }
        let included = (0..<count).filter { $0 != 0 && $0 != 2 }
        let m = included.map { z[$0] }.max()!
        let sum = included.reduce(0.0) { $0 + Foundation.exp(z[$1] - m) }
        let refLoss = m + Foundation.log(sum) - z[t]
        let refGradient = (0..<count).map { j -> Double in
            let p = j == 0 || j == 2 ? 0 : Foundation.exp(z[j] - m) / sum
            return Double(scale) * (p - (j == t ? 1 : 0))
        }

        // The fused kernel.
        var row = logits
        var biasGradient = start
        let loss = row.withUnsafeMutableBufferPointer { r in
            bias.withUnsafeBufferPointer { b in
                biasGradient.withUnsafeMutableBufferPointer { g in
                    FastMath.softmaxCrossEntropy(
                        r.baseAddress!, bias: b.baseAddress!, count: count, target: t, gradientScale: scale,
                        biasGradient: g.baseAddress!)
                }
            }
        }
        #expect(abs(Double(loss) - refLoss) <= 1e-5 * max(1, abs(refLoss)))
        #expect(row[0] == 0 && (count < 3 || row[2] == 0))
        for j in 0..<count {
            #expect(abs(Double(row[j]) - refGradient[j]) <= 1e-6, "gradient \(j)")
            #expect(abs(Double(biasGradient[j]) - (Double(start[j]) + refGradient[j])) <= 1e-6, "bias gradient \(j)")
        }

        // Brute force: the unfused Float path (bias copied in, softmax, one-hot, scale).
        var old = (0..<count).map { logits[$0] + bias[$0] }
        let targetLogit = old[t]
        let lse = old.withUnsafeMutableBufferPointer {
            FastMath.softmaxExcludingPadAndBOS($0.baseAddress!, count: count)
        }
        old[t] -= 1
        for j in 0..<count { old[j] *= scale }
        #expect(abs(loss - (lse - targetLogit)) <= 1e-5 * max(1, abs(loss)))
        for j in 0..<count { #expect(abs(row[j] - old[j]) <= 1e-7, "unfused \(j)") }

        // Evaluation: no bias gradient, same loss, the row untouched.
        var evalRow = logits
        let evalLoss = evalRow.withUnsafeMutableBufferPointer { r in
            bias.withUnsafeBufferPointer { b in
                FastMath.softmaxCrossEntropy(
                    r.baseAddress!, bias: b.baseAddress!, count: count, target: t, gradientScale: 1, biasGradient: nil)
            }
        }
        #expect(evalLoss == loss)
        #expect(evalRow == logits)
    }

    @Test("the Double implementation matches the reference formula")
    func doubleMatches() {
        let count = 21
        let logits = Self.row(count, seed: 3, spread: 5).map(Double.init)
        let bias = Self.row(count, seed: 4, spread: 1).map(Double.init)
        var row = logits
        var g = [Double](repeating: 0, count: count)
        let loss = row.withUnsafeMutableBufferPointer { r in
            bias.withUnsafeBufferPointer { b in
                g.withUnsafeMutableBufferPointer {
                    Double.softmaxCrossEntropy(
                        r.baseAddress!, bias: b.baseAddress!, count: count, target: 5, gradientScale: 0.5,
                        biasGradient: $0.baseAddress!)
                }
            }
        }
        let z = (0..<count).map { logits[$0] + bias[$0] }
        let included = (0..<count).filter { $0 != 0 && $0 != 2 }
        let sum = included.reduce(0.0) { $0 + Foundation.exp(z[$1]) }
        #expect(abs(loss - (Foundation.log(sum) - z[5])) <= 1e-12)
        for j in 0..<count {
            let p = j == 0 || j == 2 ? 0 : Foundation.exp(z[j]) / sum
            #expect(abs(row[j] - 0.5 * (p - (j == 5 ? 1 : 0))) <= 1e-12)
            #expect(g[j] == row[j])
        }
    }
}
