import Testing

@testable import UpdateCodec

struct CodecSchemeTests {
    @Test(
        "Scheme strings used across the project parse and round-trip through description",
        arguments: [
            "f32", "f16", "q8s", "q4s", "q2s", "q1s", "q8n", "rot+q2s", "rot+q1s", "clip=1.0,rot,q8s,z6",
            "f32,z1", "rot,q8s,z1", "q3n,chunk=7,z9h", "rot=256,q4s,z1r", "clip=0.25,f16,z6",
        ])
    func roundTrips(text: String) throws {
        let scheme = try CodecScheme(parsing: text)
        let again = try CodecScheme(parsing: scheme.description)
        #expect(again == scheme)
        #expect(again.description == scheme.description)
    }

    @Test func parsesEveryPart() throws {
        let s = try CodecScheme(parsing: " CLIP=1.5 + rot=1024 + q3n + chunk=64 + z6h ")
        #expect(s.clipNorm == 1.5)
        #expect(s.rotate && s.rotationBlock == 1024)
        #expect(s.quantization == .uniform(bits: 3, rounding: .nearest))
        #expect(s.chunkSize == 64)
        #expect(s.zlibLevel == 6 && s.zlibStrategy == .huffmanOnly)
        #expect(s.description == "clip=1.5,rot=1024,q3n,chunk=64,z6h")
    }

    @Test(
        "Bad scheme strings fail with a code naming the mistake",
        arguments: [
            ("", CodecSchemeError.Code.emptyScheme), ("q0s", .bitsOutOfRange), ("q9s", .bitsOutOfRange),
            ("q16n", .bitsOutOfRange), ("z10", .levelOutOfRange), ("clip=-1", .invalidClip), ("clip=0", .invalidClip),
            ("clip=nan", .invalidClip), ("chunk=0", .invalidChunkSize), ("chunk=65537", .invalidChunkSize),
            ("rot=3", .invalidRotationBlock), ("rot=1", .invalidRotationBlock), ("bogus", .unknownToken),
            ("q8x", .unknownToken), ("q8s,q4s", .duplicateSetting), ("z1,z6", .duplicateSetting), ("zz", .unknownToken),
        ])
    func rejects(text: String, code: CodecSchemeError.Code) {
        #expect {
            _ = try CodecScheme(parsing: text)
        } throws: { error in
            guard let error = error as? CodecSchemeError else { return false }
            return error.code == code && !error.message.isEmpty
        }
    }
}
