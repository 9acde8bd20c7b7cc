import FederatedCore
import Testing

@testable import UpdateCodec

struct DecoderValidationTests {
    static func code(of message: [UInt8], decoder: UpdateDecoder = UpdateDecoder()) -> UpdateCodecError.Code? {
        do {
            _ = try decoder.decode(message)
            return nil
        } catch {
            return error.code
        }
    }

    static func valid(_ scheme: String = "q4s,z1", n: Int = 500) throws -> [UInt8] {
        try Fixture.encode(Fixture.gaussian(n), scheme)
    }

    /// Writes a little-endian integer into the header and fixes the checksum.
    static func rewrite(_ message: [UInt8], at offset: Int, _ value: UInt64, bytes: Int, reseal: Bool = true) -> [UInt8]
    {
        var m = message
        for k in 0..<bytes { m[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        if reseal { Fixture.reseal(&m) }
        return m
    }

    @Test func framingErrorsNameTheirField() throws {
        let m = try Self.valid()
        #expect(Self.code(of: []) == .truncated)
        #expect(Self.code(of: [0x4B, 0x42]) == .truncated)
        #expect(Self.code(of: [0x00] + m.dropFirst()) == .badMagic)
        #expect(Self.code(of: Self.rewrite(m, at: 4, 2, bytes: 2)) == .unsupportedVersion)
        #expect(Self.code(of: Array(m.prefix(50))) == .truncated)
        #expect(Self.code(of: Array(m.dropLast())) == .truncated)
        #expect(Self.code(of: m + [0]) == .trailingBytes)
        var flipped = m
        flipped[UpdateHeader.size + 3] ^= 0x10
        #expect(Self.code(of: flipped) == .checksumMismatch)
    }

    @Test func headerFieldErrors() throws {
        let m = try Self.valid()
        #expect(Self.code(of: Self.rewrite(m, at: 7, 0, bytes: 1)) == .bitsOutOfRange)
        #expect(Self.code(of: Self.rewrite(m, at: 7, 9, bytes: 1)) == .bitsOutOfRange)
        #expect(Self.code(of: Self.rewrite(m, at: 6, 3, bytes: 1)) == .invalidField)
        #expect(Self.code(of: Self.rewrite(m, at: 8, 0x80, bytes: 1)) == .reservedNotZero)
        #expect(Self.code(of: Self.rewrite(m, at: 10, 10, bytes: 1)) == .invalidField)
        #expect(Self.code(of: Self.rewrite(m, at: 12, 0, bytes: 4)) == .invalidField)
        #expect(Self.code(of: Self.rewrite(m, at: 36, 1, bytes: 4)) == .reservedNotZero)
        #expect(Self.code(of: Self.rewrite(m, at: 16, 501, bytes: 8)) == .payloadSizeMismatch)
        #expect(Self.code(of: Self.rewrite(m, at: 16, UInt64.max, bytes: 8)) == .parameterCountMismatch)
        #expect(Self.code(of: Self.rewrite(m, at: 80, UInt64.max, bytes: 8)) == .payloadSizeMismatch)
        #expect(Self.code(of: m, decoder: UpdateDecoder(expectedLayoutHash: 1)) == .layoutHashMismatch)
        #expect(Self.code(of: m, decoder: UpdateDecoder(expectedParameterCount: 499)) == .parameterCountMismatch)
    }

    @Test func nonFiniteScalesAndValuesAreRejected() throws {
        let q = try Self.valid("q8n")
        #expect(
            Self.code(of: Self.rewrite(q, at: UpdateHeader.size, UInt64(Float.nan.bitPattern), bytes: 4))
                == .nonFiniteScale)
        #expect(
            Self.code(of: Self.rewrite(q, at: UpdateHeader.size + 4, UInt64(Float.infinity.bitPattern), bytes: 4))
                == .nonFiniteScale)
        // max < min
        #expect(
            Self.code(of: Self.rewrite(q, at: UpdateHeader.size + 4, UInt64(Float(-5).bitPattern), bytes: 4))
                == .nonFiniteScale)
        let f = try Self.valid("f32")
        #expect(
            Self.code(of: Self.rewrite(f, at: UpdateHeader.size + 8, UInt64(Float.nan.bitPattern), bytes: 4))
                == .nonFiniteValue)
        #expect(
            Self.code(of: Self.rewrite(f, at: UpdateHeader.size + 8, UInt64(Float(1e30).bitPattern), bytes: 4))
                == .nonFiniteValue)
        let h = try Self.valid("f16")
        #expect(Self.code(of: Self.rewrite(h, at: UpdateHeader.size + 2, 0x7C00, bytes: 2)) == .nonFiniteValue)
    }

    @Test("A zip bomb is refused from the header, or stopped as soon as it inflates past it")
    func zipBombGuard() throws {
        // Declared too large for the limit: refused before inflating.
        let big = try Fixture.encode([Float](repeating: 0, count: 1 << 20), "f32,z9")
        #expect(big.count < 10_000)
        let small = UpdateDecoder(limits: DecodeLimits(maxRawPayloadBytes: 1 << 20))
        #expect(Self.code(of: big, decoder: small) == .payloadSizeMismatch)
        // A stream that inflates past the declared raw length: splice a 4 MiB stream behind a
        // header that declares 4 KiB.
        let header = try Fixture.encode([Float](repeating: 0, count: 1024), "f32,z9")
        var bomb = Array(header.prefix(UpdateHeader.size)) + big[UpdateHeader.size..<(big.count - 4)] + [0, 0, 0, 0]
        let stored = UInt64(big.count - UpdateHeader.overhead)
        bomb = Self.rewrite(bomb, at: 80, stored, bytes: 8, reseal: false)
        Fixture.reseal(&bomb)
        // 4 MiB of zeros deflates to less than compressBound(4 KiB), so it passes the header checks.
        #expect(Self.code(of: bomb) == .payloadSizeMismatch)
    }

    @Test func corruptStreamsAreTyped() throws {
        let m = try Self.valid("q8n,z6", n: 5000)
        var c = m
        for i in stride(from: UpdateHeader.size + 2, to: c.count - 4, by: 7) { c[i] = 0xFF }
        Fixture.reseal(&c)
        let code = Self.code(of: c)
        #expect(code == .corruptPayload || code == .payloadSizeMismatch)
    }
}
