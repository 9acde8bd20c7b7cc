import FederatedCore
import Foundation
import Synchronization
import Testing

@testable import SecureAggregation

/// Inputs of `bits` bits for each phone, fixed by (seed, phone).
func inputs(bits: Int, length: Int, seed: UInt64) -> @Sendable (Int) -> [UInt32] {
    { phone in
        var rng = SplitMix64(seed: seed, streams: UInt64(phone))
        return (0..<length).map { _ in UInt32(truncatingIfNeeded: rng.next() >> UInt64(64 - bits)) }
    }
}

/// The plain sum of the contributors' inputs, wrapping modulo 2^32 (what the secure sum must equal).
func plainSum(_ contributors: [Int], length: Int, input: (Int) -> [UInt32]) -> [UInt32] {
    var sum = [UInt32](repeating: 0, count: length)
    for phone in contributors { for (i, v) in input(phone).enumerated() { sum[i] &+= v } }
    return sum
}

func configuration(
    cohort: Int, bits: Int = 16, length: Int = 8, parameters: SecureAggregationParameters? = nil
) throws -> SecureAggregationConfiguration {
    try SecureAggregationConfiguration(
        round: 7, parameters: parameters ?? SecureAggregationParameters(cohortSize: cohort), inputBits: bits,
        vectorLength: length, graphSeed: 99)
}

@Suite struct SecureSumTests {
    @Test(
        "The secure sum equals the plain sum bit for bit, with dropouts between every stage",
        arguments: [(10, 16, 0.0), (10, 8, 0.2), (100, 16, 0.2), (100, 8, 0.05)])
    func secureSum(cohort: Int, bits: Int, dropout: Double) async throws {
        try await checkSecureSum(cohort: cohort, bits: bits, dropout: dropout, length: 16)
    }

    // k = 16 rather than the default 54: the round's cost in a debug build is the X25519
    // agreements (about 2k per phone), which BoringSSL's C runs slowly without optimization.
    @Test("At K = 1,000 (k = 16, t = 6) with 20% dropout the secure sum equals the plain sum")
    func secureSumAtOneThousand() async throws {
        try await checkSecureSum(
            cohort: 1000, bits: 16, dropout: 0.2, length: 4,
            parameters: SecureAggregationParameters(cohortSize: 1000, neighbours: 16, threshold: 6))
    }

    func checkSecureSum(
        cohort: Int, bits: Int, dropout: Double, length: Int, parameters: SecureAggregationParameters? = nil
    ) async throws {
        let config = try configuration(cohort: cohort, bits: bits, length: length, parameters: parameters)
        let schedule = SecureAggregationRound.dropoutSchedule(cohortSize: cohort, fraction: dropout, seed: 5)
        let input = inputs(bits: bits, length: length, seed: 1)
        let outcome = await SecureAggregationRound(configuration: config, dropsAfter: schedule, seed: 3).run(
            input: input)
        let result = try outcome.result.get()
        // Contributors: everyone who sent masked input (dropped after it or not at all).
        let expected = (0..<cohort).filter { schedule[$0].map { $0 >= .maskedInput } ?? true }
        #expect(result.contributors == expected)
        #expect(result.sum == plainSum(expected, length: length, input: input))
        #expect(outcome.refusals.isEmpty)
        #expect(outcome.stages.count == 4)
    }

    @Test("Dropping up to the threshold still sums; one more abandons the round instead of a wrong sum")
    func threshold() async throws {
        // K = 10 on the complete graph, t = 7: a phone's secret has 9 holders; it survives
        // when at most 2 of them are gone at unmask.
        let params = SecureAggregationParameters(cohortSize: 10, neighbours: 9, threshold: 7)
        let config = try configuration(cohort: 10, parameters: params)
        let input = inputs(bits: 16, length: 8, seed: 2)
        let two = await SecureAggregationRound(
            configuration: config, dropsAfter: [3: .maskedInput, 8: .maskedInput], seed: 1
        ).run(input: input)
        let result = try two.result.get()
        #expect(result.contributors == Array(0..<10))
        #expect(result.sum == plainSum(Array(0..<10), length: 8, input: input))

        let three = await SecureAggregationRound(
            configuration: config, dropsAfter: [1: .maskedInput, 3: .maskedInput, 8: .maskedInput], seed: 1
        ).run(input: input)
        guard case .failure(let error) = three.result else {
            Issue.record("a round with fewer than t shares must be abandoned")
            return
        }
        #expect(error.code == .roundAbandoned)
        #expect(error.message.contains("fewer than t = 7"))
    }

    @Test("A phone dropped after sharing keys has its pairwise masks removed from its neighbours' sum")
    func droppedAfterSharing() async throws {
        let config = try configuration(
            cohort: 12, bits: 8, length: 33, parameters: .init(cohortSize: 12, neighbours: 6, threshold: 3))
        let input = inputs(bits: 8, length: 33, seed: 4)
        let outcome = await SecureAggregationRound(
            configuration: config, dropsAfter: [0: .shareKeys, 5: .shareKeys, 6: .advertiseKeys], seed: 2
        ).run(input: input)
        let result = try outcome.result.get()
        let expected = (0..<12).filter { ![0, 5, 6].contains($0) }
        #expect(result.contributors == expected)
        #expect(result.sum == plainSum(expected, length: 33, input: input))
    }

    @Test("A single masked input is indistinguishable from uniform (chi-square, 256 bins, p = 0.001)")
    func maskedInputLooksUniform() async throws {
        // All-zero inputs: the most structured input there is.
        let length = 65_536
        let config = try configuration(
            cohort: 4, bits: 8, length: length, parameters: .init(cohortSize: 4, neighbours: 3, threshold: 2))
        let captured = Mutex<[MaskedInputMessage]>([])
        var tampering = SecureAggregationRound.Tampering()
        tampering.maskedInput = { m in
            captured.withLock { $0.append(m) }
            return [m]
        }
        let outcome = await SecureAggregationRound(configuration: config, seed: 9, tampering: tampering).run { _ in
            [UInt32](repeating: 0, count: length)
        }
        #expect(try outcome.result.get().sum.allSatisfy { $0 == 0 })
        let message = try #require(captured.withLock { $0.first })
        var words = [UInt32](repeating: 0, count: length)
        config.ring.unpackAndAdd(message.packed, into: &words)
        // Bins: the top 8 of the ring's m = 10 bits.
        var counts = [Int](repeating: 0, count: 256)
        for w in words { counts[Int(w >> UInt32(config.ring.bits - 8))] += 1 }
        let expected = Double(length) / 256
        let chiSquare = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        // χ²(255) at p = 0.001 is 330.5.
        #expect(chiSquare < 330.5, "χ² = \(chiSquare)")
        // Also the low bits, where a weak mask would show first.
        var low = [Int](repeating: 0, count: 256)
        for w in words { low[Int(w & 0xFF)] += 1 }
        let chiLow = low.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        #expect(chiLow < 330.5, "χ² = \(chiLow)")
    }

    @Test("Costs are reported per stage, and a masked upload is m/b times the plain one")
    func costs() async throws {
        let config = try configuration(cohort: 20, bits: 16, length: 1000)
        let outcome = await SecureAggregationRound(configuration: config, seed: 1).run(
            input: inputs(bits: 16, length: 1000, seed: 1))
        let masked = try #require(outcome.stages.first { $0.stage == .maskedInput })
        #expect(masked.bytesUpPerPhone == Double(16 + config.ring.packedByteCount(1000)))
        #expect(config.ring.bits == 21)
        #expect(outcome.stages.map(\.stage) == SecureAggregationStage.allCases)
    }
}
