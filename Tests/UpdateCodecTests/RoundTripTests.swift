import FederatedCore
import Testing

@testable import UpdateCodec

struct RoundTripTests {
    static let decoder = UpdateDecoder()

    @Test("float32 without rotation is bit-exact, including -0", arguments: ["f32", "f32,z1", "f32,z9r"])
    func float32IsLossless(scheme: String) throws {
        let v: [Float] =
            [0, -0.0, 1, -1, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3.5e-20] + Fixture.gaussian(500)
        let message = try Fixture.encode(v, scheme)
        // The default magnitude limit (1e9) refuses float32's largest values; a raised limit takes them.
        #expect(throws: UpdateCodecError.self) { try Self.decoder.decode(message) }
        let out = try UpdateDecoder(limits: DecodeLimits(maxMagnitude: .greatestFiniteMagnitude)).decode(message).values
        #expect(out.map(\.bitPattern) == v.map(\.bitPattern))
    }

    /// Bound proved: round-to-nearest binary16 has relative error ≤ 2⁻¹¹ per element in the
    /// normal range [2⁻¹⁴, 65504], hence relative L2 error ≤ 2⁻¹¹ ≈ 4.9e-4.
    @Test func float16ErrorIsWithinHalfAnUlp() throws {
        let v = Fixture.gaussian(10_000, sigma: 1).map { $0 == 0 ? 1 : $0 * 100 }.filter { abs($0) >= 0x1p-14 }
        let out = try Self.decoder.decode(Fixture.encode(v, "f16,z6")).values
        for (a, b) in zip(out, v) { #expect(abs(a - b) <= abs(b) * 0x1p-11) }
        #expect(Fixture.relativeError(out, v) <= 0x1p-11)
    }

    /// Bound proved: nearest rounding moves each value at most half a level, (max − min)/(2·255)
    /// of its chunk, plus float rounding; stochastic at most one level. For a Gaussian vector
    /// with chunk 1024 that is a relative L2 error below 1 % (nearest) and 2 % (stochastic).
    @Test(
        "8-bit error is within half a level (nearest) or one level (stochastic)",
        arguments: ["q8n", "q8s", "q8s,z1", "q8n,chunk=100,z6"])
    func eightBitErrorBound(scheme: String) throws {
        let v = Fixture.gaussian(5_000)
        let parsed = try CodecScheme(parsing: scheme)
        let out = try Self.decoder.decode(Fixture.encode(v, scheme)).values
        let levelsFraction: Float = scheme.hasPrefix("q8n") ? 0.5 : 1
        for start in stride(from: 0, to: v.count, by: parsed.chunkSize) {
            let chunk = v[start..<min(v.count, start + parsed.chunkSize)]
            let step = (chunk.max()! - chunk.min()!) / 255
            for i in chunk.indices {
                #expect(abs(out[i] - v[i]) <= step * levelsFraction * 1.001 + 1e-7)
            }
        }
        #expect(Fixture.relativeError(out, v) < (levelsFraction == 0.5 ? 0.01 : 0.02))
    }

    @Test func rotationIsItsOwnInverse() {
        for log2 in [0, 1, 3, 4, 5, 10, 16] {
            let n = 1 << log2
            let v = Fixture.gaussian(n, sigma: 1, seed: UInt64(log2))
            var w = v
            w.withUnsafeMutableBufferPointer { buffer in
                var first = HadamardRotation(seed: 5, blockLog2: log2)
                first.rotateNextBlock(buffer)
                var second = HadamardRotation(seed: 5, blockLog2: log2)
                second.rotateNextBlock(buffer)
            }
            let maxErr = zip(v, w).map { abs($0 - $1) }.max() ?? 0
            #expect(maxErr <= 1e-5, "block 2^\(log2)")
        }
    }

    @Test func rotationPreservesTheNorm() {
        var v = Fixture.skewed(4096)
        let before = Fixture.l2(v)
        v.withUnsafeMutableBufferPointer {
            var r = HadamardRotation(seed: 9, blockLog2: 12)
            r.rotateNextBlock($0)
        }
        #expect(abs(Fixture.l2(v) - before) <= before * 1e-5)
    }

    @Test(
        "Rotation with padding and several blocks decodes back",
        arguments: ["rot,f32", "rot=64,f32,z1", "rot=64,q8n", "rot,f16,z6"])
    func rotatedRoundTrip(scheme: String) throws {
        let v = Fixture.gaussian(1_000)
        let out = try Self.decoder.decode(Fixture.encode(v, scheme)).values
        #expect(out.count == v.count)
        let bound = scheme.contains("q8") ? 0.01 : scheme.contains("f16") ? 1e-3 : 1e-5
        #expect(Fixture.relativeError(out, v) <= bound)
    }

    @Test func oneBitWithRotationBeatsOneBitWithoutOnASkewedVector() throws {
        let v = Fixture.skewed(8192)
        var plain = 0.0
        var rotated = 0.0
        for seed in UInt64(0)..<5 {
            plain += Fixture.relativeError(try Self.decoder.decode(Fixture.encode(v, "q1s", seed: seed)).values, v)
            rotated += Fixture.relativeError(
                try Self.decoder.decode(Fixture.encode(v, "rot,q1s", seed: seed)).values, v)
        }
        #expect(rotated < plain / 2, "rot+q1s \(rotated / 5) vs q1s \(plain / 5)")
    }

    @Test("Stochastic rounding is unbiased: the mean over seeds converges to the input")
    func stochasticRoundingIsUnbiased() throws {
        let v = Fixture.gaussian(64, sigma: 1, seed: 3)
        let seeds = 2_000
        var mean = [Double](repeating: 0, count: v.count)
        for seed in 0..<seeds {
            let out = try Self.decoder.decode(Fixture.encode(v, "q2s,chunk=64", seed: UInt64(seed))).values
            for i in v.indices { mean[i] += Double(out[i]) / Double(seeds) }
        }
        // One level is (max − min)/3; each decode has standard deviation ≤ level/2, so the mean
        // of 2000 has ≤ level/89. Allow 5 of those.
        let level = Double(v.max()! - v.min()!) / 3
        let worst = zip(mean, v).map { abs($0 - Double($1)) }.max()!
        #expect(worst <= 5 * level / (2 * Double(seeds).squareRoot()))
        // Nearest rounding, by contrast, is biased by up to half a level on the same input.
        let nearest = try Self.decoder.decode(Fixture.encode(v, "q2n,chunk=64")).values
        #expect(zip(nearest, v).map { abs(Double($0 - $1)) }.max()! > 10 * worst)
    }

    @Test func clippingScalesToTheBound() throws {
        let v = Fixture.gaussian(1000, sigma: 1)
        let out = try Self.decoder.decode(Fixture.encode(v, "clip=2.0")).values
        #expect(abs(Fixture.l2(out) - 2) < 1e-4)
        let small = try Self.decoder.decode(Fixture.encode(v, "clip=1000")).values
        #expect(small == v)
    }

    static let exhaustiveSchemes: [String] =
        (1...8).flatMap { ["q\($0)s", "q\($0)n", "rot,q\($0)s,z1"] }
        + ["f16", "f32", "rot,f32", "rot,f16,z6"]

    @Test("Every bit width × lengths 0…17 × ±0 and extremes round-trips within its bound", arguments: exhaustiveSchemes)
    func exhaustiveSmallCases(scheme: String) throws {
        let parsed = try CodecScheme(parsing: scheme + ",chunk=5")
        let encoder = UpdateEncoder(scheme: parsed)
        let specials: [Float] = [0, -0.0, 1, -1, 0.5, -1e-30, 1e3, .leastNonzeroMagnitude]
        for n in 0...17 {
            let v = (0..<n).map { specials[$0 % specials.count] * (1 + Float($0) / 32) }
            let out = try Self.decoder.decode(encoder.encode(v, metadata: Fixture.metadata, seed: UInt64(n))).values
            try #require(out.count == n)
            #expect(out.allSatisfy { $0.isFinite })
            let bits = parsed.quantization.bitsPerValue
            if bits <= 8 {
                // A chunk's range is at most 2·max|x| (2·‖x‖₂ after rotation, as each rotated value
                // is a unit row times x); each value moves at most one level, and after the inverse
                // rotation a value moves at most the error's L2 norm, √(padded n) levels.
                let levels = Float((1 << bits) - 1)
                let maxAbs = v.map { abs($0) }.max() ?? 0
                let bound =
                    parsed.rotate
                    ? Float(Fixture.l2(v)) * 2 / levels * Float(max(2 * n, 1)).squareRoot()
                    : maxAbs * 2 / levels
                for i in 0..<n {
                    #expect(abs(out[i] - v[i]) <= bound * 1.01 + 1e-6 * maxAbs, "\(scheme) n=\(n) i=\(i)")
                }
            } else {
                #expect(Fixture.relativeError(out, v) <= (bits == 16 ? 1e-3 : 1e-5), "\(scheme) n=\(n)")
            }
            // Non-finite input is rejected at encode time with the index of the first bad value.
            for bad in [Float.nan, .infinity, -.infinity] where n > 0 {
                var w = v
                w[n - 1] = bad
                #expect {
                    _ = try encoder.encode(w, metadata: Fixture.metadata, seed: 1)
                } throws: {
                    ($0 as? UpdateCodecError)?.code == .nonFiniteInput && ($0 as? UpdateCodecError)?.index == n - 1
                }
            }
        }
    }

    @Test func float16OverflowIsRejectedAtEncode() {
        #expect(throws: UpdateCodecError.self) { try Fixture.encode([1, 70_000], "f16") }
    }

    @Test func encodingIsDeterministic() throws {
        let v = Fixture.gaussian(3000)
        #expect(try Fixture.encode(v, "rot,q4s,z6", seed: 5) == Fixture.encode(v, "rot,q4s,z6", seed: 5))
        #expect(try Fixture.encode(v, "rot,q4s,z6", seed: 5) != Fixture.encode(v, "rot,q4s,z6", seed: 6))
    }

    @Test func compressedSizesShrinkWithBits() throws {
        let v = Fixture.gaussian(20_000)
        let sizes = try ["f32", "f16", "q8s", "q4s", "q2s", "q1s"].map { try Fixture.encode(v, $0 + ",z6").count }
        #expect(sizes == sizes.sorted(by: >))
        #expect(sizes[2] < 20_000 * 4 / 3)
    }
}
