import FederatedCore
import Testing

@testable import UpdateCodec

/// Decodes thousands of damaged messages: each must be a typed error or a valid decode.
struct MutationTests {
    static let schemes = [
        "f32", "f16,z6", "rot,q8s,z1", "q3n,chunk=7", "rot=64,q1s,z9h", "q4n,z1r", "clip=0.5,q2s,chunk=100,z6",
    ]

    static func seeds() throws -> [[UInt8]] {
        var messages = try schemes.enumerated().map { i, scheme in
            try Fixture.encode(Fixture.gaussian(300 + 37 * i, seed: UInt64(i)), scheme, seed: UInt64(i))
        }
        messages.append(try Fixture.encode([], "rot,q8s,z1"))
        return messages
    }

    @Test("12,000 seeded truncations, bit flips, field rewrites and splices: typed error or valid decode")
    func randomMutations() throws {
        let originals = try Self.seeds()
        let limits = DecodeLimits(maxParameterCount: 1 << 16, maxRawPayloadBytes: 1 << 20)
        let decoder = UpdateDecoder(limits: limits)
        var rng = SplitMix64(seed: 2026)
        var outcomes: [String: Int] = [:]
        for trial in 0..<12_000 {
            let original = originals[trial % originals.count]
            var m = original
            let kind = Int(rng.next() % 6)
            switch kind {
            case 0:  // truncation
                m = Array(m.prefix(Int(rng.next() % UInt64(m.count))))
            case 1:  // 1–4 bit flips anywhere
                for _ in 0...Int(rng.next() % 4) {
                    let bit = Int(rng.next() % UInt64(m.count * 8))
                    m[bit / 8] ^= 1 << UInt8(bit % 8)
                }
            case 2, 3:  // header field rewrite, resealed so it gets past the checksum
                let offset = Int(rng.next() % UInt64(UpdateHeader.size))
                let width = [1, 2, 4, 8][Int(rng.next() % 4)]
                let boundary: [UInt64] = [0, 1, 2, 7, 8, 9, 16, 31, 32, 33, 255, 65_536, 1 << 20, 1 << 31, UInt64.max]
                let value = rng.next() % 2 == 0 ? boundary[Int(rng.next() % UInt64(boundary.count))] : rng.next()
                for k in 0..<min(width, UpdateHeader.size - offset) {
                    m[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))
                }
                Fixture.reseal(&m)
            case 4:  // payload byte rewrites, resealed
                if m.count > UpdateHeader.overhead {
                    for _ in 0...Int(rng.next() % 8) {
                        let i = UpdateHeader.size + Int(rng.next() % UInt64(m.count - UpdateHeader.overhead))
                        m[i] = UInt8(truncatingIfNeeded: rng.next())
                    }
                }
                Fixture.reseal(&m)
            default:  // appended or dropped bytes inside the payload, resealed
                if rng.next() % 2 == 0 {
                    m.insert(
                        contentsOf: (0..<Int(rng.next() % 9 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                        at: UpdateHeader.size + Int(rng.next() % UInt64(max(1, m.count - UpdateHeader.overhead))))
                } else if m.count > UpdateHeader.overhead + 1 {
                    m.remove(at: UpdateHeader.size + Int(rng.next() % UInt64(m.count - UpdateHeader.overhead)))
                }
                Fixture.reseal(&m)
            }
            do {
                let decoded = try decoder.decode(m)
                #expect(decoded.values.count == decoded.header.parameterCount)
                #expect(decoded.values.allSatisfy { abs($0) <= 1e9 * 1100 })
                outcomes["decoded", default: 0] += 1
            } catch {
                outcomes[error.code.rawValue, default: 0] += 1
            }
            // The accumulator sees the same bytes and must stay unchanged on failure.
            if trial % 10 == 0 {
                let header = try? decoder.readHeader(m)
                var acc = UpdateAccumulator(
                    parameterCount: header?.parameterCount ?? 0, layoutHash: Fixture.metadata.layoutHash, limits: limits
                )
                if (try? acc.accumulate(m, weight: 1)) == nil {
                    #expect(acc.updateCount == 0 && acc.weightedSum.allSatisfy { $0 == 0 })
                }
            }
        }
        #expect(outcomes.values.reduce(0, +) == 12_000)
        // The mix must exercise the deep checks, not only the checksum.
        for code: UpdateCodecError.Code in [
            .truncated, .checksumMismatch, .invalidField, .payloadSizeMismatch, .corruptPayload, .nonFiniteScale,
        ] {
            #expect(outcomes[code.rawValue, default: 0] > 0, "no \(code) in \(outcomes)")
        }
        print("mutation outcomes:", outcomes.sorted { $0.key < $1.key })
    }
}
