import FederatedCore
import Foundation

@testable import UpdateCodec

/// Fixtures shared by the codec tests.
enum Fixture {
    static let metadata = UpdateMetadata(runID: 7, round: 3, layoutHash: 0xC0FFEE, exampleCount: 120, deviceID: 42)

    /// n Gaussian values (Box–Muller) with standard deviation `sigma`.
    static func gaussian(_ n: Int, sigma: Float = 0.01, seed: UInt64 = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in
            let u1 = max(rng.nextUnitDouble(), 1e-300)
            let u2 = rng.nextUnitDouble()
            return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)) * sigma
        }
    }

    /// A skewed, sparse vector: 1 % large spikes, the rest tiny noise.
    static func skewed(_ n: Int, seed: UInt64 = 2) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in
            rng.nextUnitDouble() < 0.01 ? Float(rng.nextUnitDouble() * 2 - 1) : Float(rng.nextUnitDouble() - 0.5) * 1e-3
        }
    }

    static func l2(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    static func relativeError(_ decoded: [Float], _ original: [Float]) -> Double {
        let diff = zip(decoded, original).map { $0 - $1 }
        let norm = l2(original)
        return norm == 0 ? l2(diff) : l2(diff) / norm
    }

    /// Recomputes the CRC of a message whose last four bytes hold it, so mutations reach the
    /// field and payload checks behind the checksum.
    static func reseal(_ message: inout [UInt8]) {
        guard message.count >= 4 else { return }
        let end = message.count - 4
        let crc = CRC32.checksum(message[0..<end])
        for k in 0..<4 { message[end + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
    }

    static func encode(_ v: [Float], _ scheme: String, seed: UInt64 = 99) throws -> [UInt8] {
        try UpdateEncoder(scheme: CodecScheme(parsing: scheme)).encode(v, metadata: metadata, seed: seed)
    }
}
