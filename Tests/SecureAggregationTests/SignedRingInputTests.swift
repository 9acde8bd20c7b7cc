import FederatedCore
import Foundation
import Testing

@testable import SecureAggregation

/// Distributed DP's inputs: signed integers with Skellam noise, in two's complement modulo
/// 2^m (``MaskRing/init(ringBits:)``). The secure sum must be the plain sum of the same noisy
/// integer vectors, exactly, with and without dropouts.
@Suite struct SignedRingInputTests {
    static let length = 64

    /// Phone `phone`'s noisy signed vector: a value in [−⌈γc⌉, ⌈γc⌉] = [−500, 500] plus an
    /// Sk(μ/t) draw per coordinate (μ/t = 40,000), fixed by (seed, phone).
    static func noisy(_ phone: Int) -> [Int64] {
        var rng = SplitMix64(seed: 77, streams: UInt64(phone))
        var noise = [UInt32](repeating: 0, count: length)
        noise.withUnsafeMutableBufferPointer { rng.addSkellamNoise(variance: 40_000, to: $0) }
        return (0..<length).map { i in
            Int64(Int(rng.next() % 1001) - 500) + Int64(Int32(bitPattern: noise[i]))
        }
    }

    static func ringInput(bits m: Int) -> @Sendable (Int) -> [UInt32] {
        { phone in
            let mask: UInt32 = m == 32 ? .max : (UInt32(1) << UInt32(m)) - 1
            return noisy(phone).map { UInt32(truncatingIfNeeded: $0) & mask }
        }
    }

    /// The sum modulo 2^m read as signed.
    static func signed(_ word: UInt32, bits m: Int) -> Int64 {
        let w = Int64(word) & ((1 << Int64(m)) - 1)
        return w >= (1 << Int64(m - 1)) ? w - (1 << Int64(m)) : w
    }

    @Test(
        "The secure sum of noisy signed inputs is the plain integer sum of the same vectors, with dropouts",
        arguments: [(12, 20, 0.0), (12, 20, 0.25), (30, 24, 0.2), (10, 32, 0.1)])
    func secureSumOfSignedInputs(cohort: Int, bits: Int, dropout: Double) async throws {
        let config = try SecureAggregationConfiguration(
            round: 3, parameters: SecureAggregationParameters(cohortSize: cohort), ringBits: bits,
            vectorLength: Self.length, graphSeed: 5)
        #expect(config.ring.ringElementInputs && config.ring.bits == bits)
        let schedule = SecureAggregationRound.dropoutSchedule(cohortSize: cohort, fraction: dropout, seed: 11)
        let outcome = await SecureAggregationRound(configuration: config, dropsAfter: schedule, seed: 4).run(
            input: Self.ringInput(bits: bits))
        let result = try outcome.result.get()
        let expected = (0..<cohort).filter { schedule[$0].map { $0 >= .maskedInput } ?? true }
        #expect(result.contributors == expected)
        if dropout > 0 { #expect(expected.count < cohort) }
        var plain = [Int64](repeating: 0, count: Self.length)
        for phone in expected { for (i, v) in Self.noisy(phone).enumerated() { plain[i] += v } }
        // Negative sums occur: the decoding is signed, not a code sum.
        #expect(plain.contains { $0 < 0 })
        #expect(result.sum.map { Self.signed($0, bits: bits) } == plain)
        #expect(outcome.refusals.isEmpty)
    }

    @Test("A ring-element round takes any value below 2^m and refuses one above, naming the coordinate")
    func ringElementRange() throws {
        let config = try SecureAggregationConfiguration(
            round: 7, parameters: .init(cohortSize: 6, neighbours: 5, threshold: 3), ringBits: 20, vectorLength: 4,
            graphSeed: 1)
        var server = SecureAggregationServer(configuration: config)
        var rng = SplitMix64(seed: 3)
        var clients = (0..<6).map { SecureAggregationClient(phone: $0, configuration: config, using: &rng) }
        for i in clients.indices { try server.receive(try clients[i].advertiseKeys()) }
        guard case .send(let keys) = server.closeAdvertiseKeys() else {
            Issue.record("advertise keys must close")
            return
        }
        for m in keys { try server.receive(try clients[m.phone].shareKeys(m, using: &rng).message) }
        guard case .send(let forwarded) = server.closeShareKeys() else {
            Issue.record("share keys must close")
            return
        }
        do {
            _ = try clients[0].maskedInput(forwarded[0], input: [0, 1 << 20, 0, 0])
            Issue.record("a value of 2^20 in a 20-bit ring must be refused")
        } catch {
            #expect(error.code == .inputOutOfRange && error.message.contains("coordinate 1"))
        }
        // The largest element (−1 in two's complement) goes through.
        _ = try clients[0].maskedInput(forwarded[0], input: [(1 << 20) - 1, 0, 5, 1 << 19])
        #expect(throws: SecureAggregationError.self) { _ = try MaskRing(ringBits: 33) }
        #expect(throws: SecureAggregationError.self) { _ = try MaskRing(ringBits: 1) }
        // The code path of the b-bit rings is unchanged: inputs stay codes.
        #expect(try MaskRing(inputBits: 8, cohortSize: 100).ringElementInputs == false)
    }
}
