import Testing

@testable import UpdateCodec

struct AccumulatorTests {
    @Test(
        "Accumulated sum equals the sum of decoded updates",
        arguments: ["f32", "q8s,z1", "rot,q4s,z6", "rot=256,q2n,z1h", "f16,z1"])
    func matchesDecodeThenAdd(scheme: String) throws {
        let n = 3_000
        var acc = UpdateAccumulator(parameterCount: n, layoutHash: Fixture.metadata.layoutHash)
        var expected = [Double](repeating: 0, count: n)
        for device in 0..<4 {
            let message = try Fixture.encode(Fixture.gaussian(n, seed: UInt64(device)), scheme, seed: UInt64(device))
            let decoded = try UpdateDecoder().decode(message)
            let w = Float(device + 1)
            try acc.accumulate(message, weight: w)
            for i in 0..<n { expected[i] += Double(w) * Double(decoded.values[i]) }
        }
        #expect(acc.updateCount == 4 && acc.totalWeight == 10)
        for i in 0..<n { #expect(abs(Double(acc.weightedSum[i]) - expected[i]) <= 1e-5) }
        let mean = acc.weightedMean()
        #expect(abs(Double(mean[7]) - expected[7] / 10) <= 1e-6)
    }

    @Test func defaultWeightIsTheExampleCount() throws {
        var acc = UpdateAccumulator(parameterCount: 3, layoutHash: Fixture.metadata.layoutHash)
        try acc.accumulate(Fixture.encode([1, 2, 3], "f32"))
        #expect(acc.totalWeight == Double(Fixture.metadata.exampleCount))
        #expect(acc.weightedSum == [120, 240, 360])
    }

    @Test func rejectsOtherLayoutsAndSizesAndStaysUnchanged() throws {
        var acc = UpdateAccumulator(parameterCount: 4, layoutHash: 1)
        #expect { try acc.accumulate(Fixture.encode([1, 2, 3, 4], "f32")) } throws: {
            ($0 as? UpdateCodecError)?.code == .layoutHashMismatch
        }
        var other = UpdateAccumulator(parameterCount: 5, layoutHash: Fixture.metadata.layoutHash)
        #expect { try other.accumulate(Fixture.encode([1, 2, 3, 4], "f32")) } throws: {
            ($0 as? UpdateCodecError)?.code == .parameterCountMismatch
        }
        #expect(acc.updateCount == 0 && acc.weightedSum == [0, 0, 0, 0])
    }

    @Test("A bad scale late in the payload leaves the sum untouched (all or nothing)")
    func failedMessageIsNotPartiallyApplied() throws {
        let n = 40_000
        var message = try Fixture.encode(Fixture.gaussian(n), "q8n")
        // Last chunk's min becomes NaN; the checksum is fixed so only the scale check can catch it.
        let lastChunk = UpdateHeader.size + (n / 1024) * (8 + 1024)
        for k in 0..<4 { message[lastChunk + k] = [0x00, 0x00, 0xC0, 0x7F][k] }
        Fixture.reseal(&message)
        var acc = UpdateAccumulator(parameterCount: n, layoutHash: Fixture.metadata.layoutHash)
        #expect { try acc.accumulate(message, weight: 1) } throws: {
            ($0 as? UpdateCodecError)?.code == .nonFiniteScale
        }
        #expect(acc.weightedSum.allSatisfy { $0 == 0 } && acc.updateCount == 0)
    }
}
