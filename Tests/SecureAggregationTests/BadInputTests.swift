import FederatedCore
import Foundation
import Testing

@testable import SecureAggregation

/// A round of K = 12 on a 6-regular graph with t = 3, where tests alter messages in flight.
struct TamperedRound {
    static let cohort = 12
    static let length = 24
    let config: SecureAggregationConfiguration
    let input = inputs(bits: 8, length: length, seed: 21)

    init() throws {
        config = try configuration(
            cohort: Self.cohort, bits: 8, length: Self.length,
            parameters: .init(cohortSize: Self.cohort, neighbours: 6, threshold: 3))
    }

    /// Runs the round and checks that it summed exactly the inputs of `contributors`.
    func run(
        _ tampering: SecureAggregationRound.Tampering, contributors: [Int]
    ) async throws -> [SecureAggregationError] {
        let outcome = await SecureAggregationRound(configuration: config, seed: 4, tampering: tampering).run(
            input: input)
        let result = try outcome.result.get()
        #expect(result.contributors == contributors)
        #expect(result.sum == plainSum(contributors, length: Self.length, input: input))
        return outcome.refusals
    }

    static func allBut(_ phones: Int...) -> [Int] { (0..<cohort).filter { !phones.contains($0) } }
}

@Suite struct BadInputTests {
    @Test("A key advertised twice is refused; the first advertisement stands and the round sums")
    func keyAdvertisedTwice() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.advertiseKeys = { $0.phone == 3 ? [$0, $0] : [$0] }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut())
        #expect(refusals.map(\.code) == [.duplicateKey])
        #expect(refusals[0].phone == 3 && refusals[0].stage == .advertiseKeys)
        #expect(refusals[0].description.contains("advertised twice"))
    }

    @Test("A key another phone already advertised is refused and that phone sits the round out")
    func keyOfAnotherPhone() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        // Phone 5 advertises its mask key as its encryption key too (a key seen before).
        t.advertiseKeys = { m in
            guard m.phone == 5 else { return [m] }
            var copy = m
            copy.encryptionKey = m.maskKey
            return [copy]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut(5))
        #expect(refusals.contains { $0.code == .duplicateKey && $0.phone == 5 })
    }

    @Test("A message from a phone outside the cohort is refused")
    func unknownPhone() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.advertiseKeys = { m in
            guard m.phone == 0 else { return [m] }
            var stranger = m
            stranger.phone = 40
            stranger.encryptionKey = Array(m.encryptionKey.reversed())
            return [m, stranger]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut())
        #expect(refusals.map(\.code) == [.unknownPhone])
        #expect(refusals[0].phone == 40)
    }

    @Test("Two shares for one neighbour are refused; the phone drops and the round sums the rest")
    func duplicateShare() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.shareKeys = { m in
            guard m.phone == 2 else { return [m] }
            var copy = m
            copy.shares.append(m.shares[0])
            return [copy]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut(2))
        #expect(refusals.map(\.code) == [.duplicateShare])
        #expect(refusals[0].phone == 2 && refusals[0].stage == .shareKeys)
    }

    @Test("A share for a phone that is not a neighbour is refused")
    func shareForWrongRecipient() async throws {
        let round = try TamperedRound()
        let graph = round.config.graph
        let stranger = (0..<TamperedRound.cohort).first { $0 != 7 && !graph.areNeighbours(7, $0) }!
        var t = SecureAggregationRound.Tampering()
        t.shareKeys = { m in
            guard m.phone == 7 else { return [m] }
            var copy = m
            copy.shares[0].recipient = stranger
            return [copy]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut(7))
        #expect(refusals.map(\.code) == [.wrongRecipient])
        #expect(refusals[0].phone == 7)
    }

    @Test("A tampered share fails authenticated decryption at its recipient; the round still sums everyone")
    func tamperedShare() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.shareKeys = { m in
            guard m.phone == 4 else { return [m] }
            var copy = m
            copy.shares[1].sealed[20] ^= 0x01
            return [copy]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut())
        // The recipient refuses the envelope, and later cannot reveal that share (it says so).
        #expect(refusals.map(\.code) == [.shareDecryptionFailed, .invalidShare])
        #expect(refusals[1].message.contains("no share held"))
        // The recipient names the sender whose envelope failed.
        #expect(refusals[0].phone == 4 && refusals[0].stage == .maskedInput)
    }

    @Test("An envelope re-addressed to another phone does not open there")
    func envelopeForAnotherPhone() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        // The server swaps the sealed boxes of a phone's first two envelopes.
        t.forwardedShares = { m in
            guard m.phone == 1, m.shares.count >= 2 else { return m }
            var copy = m
            copy.shares[0].sealed = m.shares[1].sealed
            return copy
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut())
        #expect(refusals.map(\.code) == [.shareDecryptionFailed, .invalidShare])
    }

    @Test("A replayed masked input is refused and counted once")
    func replayedMaskedInput() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.maskedInput = { $0.phone == 6 ? [$0, $0] : [$0] }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut())
        #expect(refusals.map(\.code) == [.replayed])
        #expect(refusals[0].phone == 6 && refusals[0].stage == .maskedInput)
    }

    @Test("A masked input from another round is refused; that phone's masks are removed as if it dropped")
    func otherRound() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.maskedInput = { m in
            guard m.phone == 9 else { return [m] }
            var copy = m
            copy.round = 6
            return [copy]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut(9))
        #expect(refusals.map(\.code) == [.wrongRound])
    }

    @Test("A masked input of the wrong length is refused and the round sums the rest")
    func wrongLength() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.maskedInput = { m in
            guard m.phone == 10 else { return [m] }
            var copy = m
            copy.packed.removeLast()
            return [copy]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut(10))
        #expect(refusals.map(\.code) == [.wrongLength])
        #expect(refusals[0].description.contains("the round takes 24 coordinates of 12 bits"))
    }

    @Test("A wrong revealed share is found by the commitment check, named, and outvoted")
    func wrongRevealedShare() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.unmask = { m in
            guard m.phone == 8, !m.selfMaskShares.isEmpty else { return [m] }
            var copy = m
            copy.selfMaskShares[0].share.values[0] = copy.selfMaskShares[0].share.values[0] + .one
            return [copy]
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut())
        #expect(refusals.map(\.code) == [.invalidShare])
        #expect(refusals[0].phone == 8 && refusals[0].stage == .unmask)
    }

    @Test("A revealed share that was not requested, or twice, is refused")
    func unrequestedAndDuplicateReveal() async throws {
        let round = try TamperedRound()
        var t = SecureAggregationRound.Tampering()
        t.unmask = { m in
            switch m.phone {
            case 0:
                var copy = m
                copy.maskKeyShares.append(copy.selfMaskShares[0])  // asks for a survivor's key share
                return [copy]
            case 1:
                var copy = m
                copy.selfMaskShares.append(copy.selfMaskShares[0])
                return [copy]
            default: return [m]
            }
        }
        let refusals = try await round.run(t, contributors: TamperedRound.allBut())
        #expect(refusals.map(\.code) == [.invalidShare, .duplicateShare])
        #expect(refusals.map(\.phone) == [0, 1])
    }

    @Test("Messages out of order, skipping a stage, and after the round are refused by the server")
    func serverOrdering() throws {
        let round = try TamperedRound()
        let config = round.config
        var server = SecureAggregationServer(configuration: config)
        var rng = SplitMix64(seed: 1)
        var clients = (0..<TamperedRound.cohort).map {
            SecureAggregationClient(phone: $0, configuration: config, using: &rng)
        }
        let early = MaskedInputMessage(round: 7, phone: 0, count: 24, packed: [])
        do {
            try server.receive(early)
            Issue.record("a masked input during advertise keys must be refused")
        } catch {
            #expect(error.code == .outOfOrder && error.phone == 0)
        }
        var advertised: [AdvertiseKeysMessage] = []
        for i in clients.indices {
            advertised.append(try clients[i].advertiseKeys())
            try server.receive(advertised[i])
        }
        guard case .send(let keys) = server.closeAdvertiseKeys() else {
            Issue.record("stage 0 closes")
            return
        }
        // Phone 11 skips share keys.
        for m in keys where m.phone != 11 {
            try server.receive(try clients[m.phone].shareKeys(m, using: &rng).message)
        }
        guard case .send = server.closeShareKeys() else {
            Issue.record("stage 1 closes")
            return
        }
        do {
            try server.receive(
                MaskedInputMessage(round: 7, phone: 11, count: 24, packed: [UInt8](repeating: 0, count: 36)))
            Issue.record("a phone that skipped share keys must be refused")
        } catch {
            #expect(error.code == .skippedStage && error.phone == 11)
        }
        // A late (replayed) advertisement reaches the server after its stage closed.
        do {
            try server.receive(advertised[11])
            Issue.record("a late advertisement must be refused")
        } catch {
            #expect(error.code == .outOfOrder && error.phone == 11)
        }
        // The phone itself refuses to advertise twice.
        do {
            _ = try clients[11].advertiseKeys()
            Issue.record("advertising twice must be refused")
        } catch {
            #expect(error.code == .replayed)
        }
        // The phone side refuses a stage out of order too.
        do {
            _ = try clients[11].unmask(UnmaskRequestMessage(round: 7, phone: 11, survivors: [], dropped: []))
            Issue.record("a phone must refuse unmask before masking")
        } catch {
            #expect(error.code == .outOfOrder)
        }
    }

    @Test("A phone refuses a request for both secrets of one neighbour")
    func phoneRefusesBothSecrets() async throws {
        let round = try TamperedRound()
        let config = round.config
        var server = SecureAggregationServer(configuration: config)
        var rng = SplitMix64(seed: 2)
        var clients = (0..<TamperedRound.cohort).map {
            SecureAggregationClient(phone: $0, configuration: config, using: &rng)
        }
        for i in clients.indices { try server.receive(try clients[i].advertiseKeys()) }
        guard case .send(let keys) = server.closeAdvertiseKeys() else { return }
        for m in keys { try server.receive(try clients[m.phone].shareKeys(m, using: &rng).message) }
        guard case .send(let forwarded) = server.closeShareKeys() else { return }
        let f = forwarded[0]
        _ = try clients[0].maskedInput(f, input: round.input(0))
        let neighbour = f.shares[0].sender
        do {
            _ = try clients[0].unmask(
                UnmaskRequestMessage(round: 7, phone: 0, survivors: [neighbour], dropped: [neighbour]))
            Issue.record("revealing both secrets must be refused")
        } catch {
            #expect(error.code == .invalidShare && error.message.contains("both secrets"))
        }
    }

    @Test("An input value wider than b bits, or of the wrong length, is refused by the phone")
    func inputOutOfRange() throws {
        let round = try TamperedRound()
        let config = round.config
        var server = SecureAggregationServer(configuration: config)
        var rng = SplitMix64(seed: 3)
        var clients = (0..<TamperedRound.cohort).map {
            SecureAggregationClient(phone: $0, configuration: config, using: &rng)
        }
        for i in clients.indices { try server.receive(try clients[i].advertiseKeys()) }
        guard case .send(let keys) = server.closeAdvertiseKeys() else { return }
        for m in keys { try server.receive(try clients[m.phone].shareKeys(m, using: &rng).message) }
        guard case .send(let forwarded) = server.closeShareKeys() else { return }
        do {
            _ = try clients[0].maskedInput(forwarded[0], input: [256] + [UInt32](repeating: 0, count: 23))
            Issue.record("a 9-bit value in an 8-bit round must be refused")
        } catch {
            #expect(error.code == .inputOutOfRange && error.message.contains("coordinate 0"))
        }
        do {
            _ = try clients[0].maskedInput(forwarded[0], input: [1, 2])
            Issue.record("a short input must be refused")
        } catch {
            #expect(error.code == .wrongLength)
        }
        // The refusals left the phone where it was: a good input still goes through.
        let ok = try clients[0].maskedInput(forwarded[0], input: round.input(0))
        try server.receive(ok.message)
    }
}
