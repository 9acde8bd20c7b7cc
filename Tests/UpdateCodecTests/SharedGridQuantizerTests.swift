import FederatedCore
import Testing
import UpdateCodec

@Suite("Shared-grid quantizer (secure aggregation)")
struct SharedGridQuantizerTests {
    private func codes(_ q: SharedGridQuantizer, _ values: [Float], seed: UInt64 = 7) -> ([UInt8], [Float], Bool) {
        var delta = values
        var out = [UInt8](repeating: 0, count: values.count)
        var dither = SplitMix64(seed: seed)
        let clipped = delta.withUnsafeMutableBufferPointer { d in
            out.withUnsafeMutableBufferPointer { q.clipAndQuantize(d, into: $0, dither: &dither) }
        }
        return (out, delta, clipped)
    }

    private func dequantized(_ q: SharedGridQuantizer, _ sum: [UInt32], contributors: Int) -> [Float] {
        var out = [Float](repeating: 0, count: sum.count)
        out.withUnsafeMutableBufferPointer { o in
            sum.withUnsafeBufferPointer { q.dequantizeSum($0, contributors: contributors, into: o) }
        }
        return out
    }

    @Test("Grid points round to themselves and dequantize back, to nearest")
    func gridPoints() {
        let q = SharedGridQuantizer(bits: 2, range: 1.5, stochastic: false)  // points −1.5, −0.5, 0.5, 1.5
        let (c, _, clipped) = codes(q, [-0.5, 0.5, 0, 0])
        #expect(!clipped)
        #expect(c == [1, 2, 2, 2])
        #expect(dequantized(q, c.map(UInt32.init), contributors: 1) == [-0.5, 0.5, 0.5, 0.5])
    }

    @Test("A delta over the clip is scaled to norm C, so no code saturates; codes fit b bits")
    func clipsToTheGrid() {
        let q = SharedGridQuantizer(bits: 4, range: 0.5, stochastic: true)
        let (c, delta, clipped) = codes(q, [3, -4, 0, 0, 0])
        #expect(clipped)
        let norm = delta.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(abs(norm - 0.5) < 1e-6)
        #expect(c.allSatisfy { $0 <= 15 })
    }

    @Test("Stochastic rounding is unbiased: the dequantized sum of many phones' codes is near their true sum")
    func unbiasedSum() {
        let q = SharedGridQuantizer(bits: 2, range: 1, stochastic: true)
        let value: Float = 0.2
        var sum = [UInt32](repeating: 0, count: 1)
        let phones = 4000
        for phone in 0..<phones {
            let (c, _, _) = codes(q, [value], seed: UInt64(phone) &* 0x9E37_79B9)
            sum[0] += UInt32(c[0])
        }
        let mean = Double(dequantized(q, sum, contributors: phones)[0]) / Double(phones)
        // One code's standard deviation is at most Δ/2 = 1/3; over 4,000 phones about 0.005.
        #expect(abs(mean - Double(value)) < 0.03)
    }

    @Test("The same codes always dequantize to the same floats")
    func deterministic() {
        let q = SharedGridQuantizer(bits: 8, range: 0.25, stochastic: true)
        let a = codes(q, [0.01, -0.02, 0.003], seed: 3)
        let b = codes(q, [0.01, -0.02, 0.003], seed: 3)
        #expect(a.0 == b.0)
        #expect(
            dequantized(q, a.0.map(UInt32.init), contributors: 1)
                == dequantized(q, b.0.map(UInt32.init), contributors: 1))
    }
}
