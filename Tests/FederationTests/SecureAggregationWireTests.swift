import FederatedCore
import FederationProtocol
import SecureAggregation
import Testing

@Suite("Secure aggregation's wire format (KSA1)")
struct SecureAggregationWireTests {
    /// One real round's messages of every stage, from four ``SecureAggregationClient``s.
    static func messages() throws -> (
        inbound: [SecureAggregationInbound], keys: [NeighbourKeysMessage], forwarded: [ForwardedSharesMessage],
        requests: [UnmaskRequestMessage]
    ) {
        let configuration = try SecureAggregationConfiguration(
            round: 3, parameters: SecureAggregationParameters(cohortSize: 4, neighbours: 3, threshold: 2),
            inputBits: 8, vectorLength: 5, graphSeed: 9)
        var rng = SplitMix64(seed: 1)
        var clients = (0..<4).map { SecureAggregationClient(phone: $0, configuration: configuration, using: &rng) }
        var server = SecureAggregationServer(configuration: configuration)
        var inbound: [SecureAggregationInbound] = []
        for i in clients.indices {
            let m = try clients[i].advertiseKeys()
            try server.receive(m)
            inbound.append(.advertiseKeys(m))
        }
        guard case .send(let keys) = server.closeAdvertiseKeys() else { throw WireTestFailure() }
        for k in keys {
            let m = try clients[k.phone].shareKeys(k, using: &rng).message
            try server.receive(m)
            inbound.append(.shareKeys(m))
        }
        guard case .send(let forwarded) = server.closeShareKeys() else { throw WireTestFailure() }
        for f in forwarded.prefix(3) {
            let m = try clients[f.phone].maskedInput(f, input: [1, 2, 3, 4, UInt32(f.phone)]).message
            try server.receive(m)
            inbound.append(.maskedInput(m, tokens: 40 + f.phone))
        }
        guard case .send(let requests) = server.closeMaskedInput() else { throw WireTestFailure() }
        for r in requests {
            let m = try clients[r.phone].unmask(r).message
            inbound.append(.unmask(m))
        }
        inbound.append(.plainInput(PlainQuantizedInput(phone: 2, codes: [0, 255, 7], tokens: 12)))
        inbound.append(
            .plainInput(PlainQuantizedInput(phone: 1, codes: [], tokens: 3, ringElements: [0, 1 << 31, 77, 5])))
        return (inbound, keys, forwarded, requests)
    }

    struct WireTestFailure: Error {}

    @Test("Every phone message and every server answer decodes to itself")
    func roundTrips() throws {
        let (inbound, keys, forwarded, requests) = try Self.messages()
        #expect(Set(inbound.map(\.route)) == Set(SecureAggregationRoute.allCases))
        for message in inbound {
            let bytes = SecureAggregationWire.encode(message)
            #expect(try SecureAggregationWire.decodeInbound(bytes, route: message.route) == message)
        }
        let keyReply = SecureAggregationReply(answer: keys, refused: 2, serverMilliseconds: 1.5)
        let decodedKeys = try SecureAggregationWire.decodeNeighbourKeys(SecureAggregationWire.encode(keyReply))
        #expect(decodedKeys.answer == keys && decodedKeys.refused == 2 && decodedKeys.serverMilliseconds == 1.5)
        let shares = try SecureAggregationWire.decodeForwardedShares(
            SecureAggregationWire.encode(SecureAggregationReply(answer: forwarded)))
        #expect(shares.answer == forwarded && shares.abandonment == nil)
        let unmask = try SecureAggregationWire.decodeUnmaskRequests(
            SecureAggregationWire.encode(SecureAggregationReply(answer: requests)))
        #expect(unmask.answer == requests)
        let outcome = SecureAggregationOutcome(contributors: [0, 2, 3], recovered: 1)
        #expect(
            try SecureAggregationWire.decodeOutcome(
                SecureAggregationWire.encode(SecureAggregationReply(answer: outcome))
            )
            .answer == outcome)
        let abandoned = try SecureAggregationWire.decodeOutcome(
            SecureAggregationWire.encode(
                SecureAggregationReply<SecureAggregationOutcome>(answer: nil, abandonment: "only 1 input")))
        #expect(abandoned.answer == nil && abandoned.abandonment == "only 1 input")
    }

    @Test("Every truncation of every message is refused with the offset, never a trap")
    func truncationsAreRefused() throws {
        for message in try Self.messages().inbound {
            let bytes = SecureAggregationWire.encode(message)
            for n in 0..<bytes.count {
                #expect(throws: SecureAggregationWire.DecodingFailure.self) {
                    _ = try SecureAggregationWire.decodeInbound(Array(bytes.prefix(n)), route: message.route)
                }
            }
            #expect(throws: SecureAggregationWire.DecodingFailure.self) {
                _ = try SecureAggregationWire.decodeInbound(bytes + [0], route: message.route)
            }
        }
    }

    @Test("A body of another stage, a count the body cannot hold and an out-of-field share are refused")
    func hostileBodies() throws {
        let inbound = try Self.messages().inbound
        guard case .advertiseKeys = inbound[0], case .unmask(let unmask) = inbound.first(where: { $0.route == .unmask })
        else { throw WireTestFailure() }
        let keys = SecureAggregationWire.encode(inbound[0])
        let wrongStage = #expect(throws: SecureAggregationWire.DecodingFailure.self) {
            _ = try SecureAggregationWire.decodeInbound(keys, route: .shareKeys)
        }
        #expect(wrongStage?.description.contains("advertiseKeys message") == true)

        // A share-keys message claiming 2^32 − 1 envelopes in a few bytes.
        var huge = Array("KSA1".utf8) + [2]
        huge += [UInt8](repeating: 0, count: 12)  // round and phone
        huge += [0, 0, 0, 0]  // an empty commitment
        huge += [0xFF, 0xFF, 0xFF, 0xFF]
        let count = #expect(throws: SecureAggregationWire.DecodingFailure.self) {
            _ = try SecureAggregationWire.decodeInbound(huge, route: .shareKeys)
        }
        #expect(count?.problem.contains("cannot hold") == true)

        // A revealed share whose value is not an element of GF(2^61 − 1).
        #expect(!unmask.selfMaskShares.isEmpty)
        var bytes = SecureAggregationWire.encode(.unmask(unmask))
        // The first value of the first share: magic, kind, round, phone, count, owner, x, count.
        let offset = 4 + 1 + 8 + 4 + 4 + 4 + 8 + 4
        for i in 0..<8 { bytes[offset + i] = 0xFF }
        let field = #expect(throws: SecureAggregationWire.DecodingFailure.self) {
            _ = try SecureAggregationWire.decodeInbound(bytes, route: .unmask)
        }
        #expect(field?.problem.contains("GF") == true)
        #expect((field?.offset ?? 0) > offset)

        #expect(throws: SecureAggregationWire.DecodingFailure.self) {
            _ = try SecureAggregationWire.decodeInbound(Array("NOPE1234".utf8), route: .advertiseKeys)
        }
    }
}
