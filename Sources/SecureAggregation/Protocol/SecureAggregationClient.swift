import Crypto
internal import Foundation

/// One phone's side of a secure-aggregation round: a value-type state machine whose event
/// methods take the server's message and return the phone's next message.
///
/// A phone that stops calling it has dropped out; the server copes. Each method checks that
/// it is called in order and that the message is for this phone and round, and throws a
/// ``SecureAggregationError`` otherwise, with the phone's state unchanged. Problems with
/// single shares inside a valid message (a tampered envelope) do not stop the phone: they are
/// returned in ``Output/refusals`` and the phone goes on without that share.
public struct SecureAggregationClient: Sendable {
    /// A message for the server and the shares or entries this phone refused on the way.
    public struct Output<Message: Sendable>: Sendable {
        /// What to send.
        public var message: Message
        /// Parts of the server's message this phone refused, one error each.
        public var refusals: [SecureAggregationError]
    }

    enum State: Sendable, Equatable {
        case created
        case advertised
        case shared
        case maskedInputSent
        case finished
    }

    /// The phone's index in the cohort.
    public let phone: Int
    /// The round's configuration.
    public let configuration: SecureAggregationConfiguration
    private var state = State.created
    // Raw 32-byte X25519 private keys (swift-crypto's key types are not Sendable).
    private let encryptionKeyBytes: [UInt8]
    private let maskKeyBytes: [UInt8]
    private var encryptionKey: Curve25519.KeyAgreement.PrivateKey { Self.privateKey(encryptionKeyBytes) }
    private var maskKey: Curve25519.KeyAgreement.PrivateKey { Self.privateKey(maskKeyBytes) }
    private let selfMaskSeed: [UInt8]
    /// The neighbours' advertised keys, by phone.
    private var neighbourKeys: [Int: AdvertiseKeysMessage] = [:]
    /// The neighbours this phone sent shares to (its neighbours that advertised).
    private var shareHolders: Set<Int> = []
    /// Shares of neighbours' secrets this phone holds: (self-mask share, mask-key share).
    private var heldShares: [Int: (selfMask: ShamirShare, maskKey: ShamirShare)] = [:]
    /// Neighbours that completed share keys: the pairwise masks this phone added.
    private var maskedWith: Set<Int> = []
    /// The ChaChaPoly key shared with each neighbour (the same in both directions), kept from
    /// sealing to open that neighbour's envelope without a second key agreement.
    private var pairKeys: [Int: [UInt8]] = [:]

    /// A phone with fresh keys and a fresh self-mask seed for this round.
    ///
    /// - Parameters:
    ///   - phone: the index in the cohort, 0..<K.
    ///   - configuration: the round's.
    ///   - generator: the source of the phone's secrets; `SystemRandomNumberGenerator` outside
    ///     simulations (a seeded one makes a simulation reproducible, and its secrets guessable).
    public init(
        phone: Int, configuration: SecureAggregationConfiguration, using generator: inout some RandomNumberGenerator
    ) {
        precondition(phone >= 0 && phone < configuration.cohortSize, "phone \(phone) is not in the cohort")
        self.phone = phone
        self.configuration = configuration
        self.encryptionKeyBytes = KeyDerivation.randomBytes(using: &generator)
        self.maskKeyBytes = KeyDerivation.randomBytes(using: &generator)
        self.selfMaskSeed = KeyDerivation.randomBytes(using: &generator)
    }

    private func error(
        _ code: SecureAggregationError.Code, _ stage: SecureAggregationStage, phone: Int? = nil, _ message: String
    ) -> SecureAggregationError {
        SecureAggregationError(code: code, phone: phone ?? self.phone, stage: stage, message: message)
    }

    private func check(round: UInt64, recipient: Int, stage: SecureAggregationStage, expected: State)
        throws(SecureAggregationError)
    {
        guard round == configuration.round else {
            throw error(
                .wrongRound, stage,
                "message of round \(round) reached a phone in round \(configuration.round) (a replay); drop it")
        }
        guard recipient == phone else {
            throw error(
                .wrongRecipient, stage,
                "message for phone \(recipient) reached this phone; the server must route by recipient")
        }
        guard state == expected else {
            throw error(
                .outOfOrder, stage,
                "the phone is in state \(state), not ready for \(stage.rawValue); the server must send stages in order, once"
            )
        }
    }

    /// Stage 0: the phone's two public keys.
    ///
    /// - Throws: ``SecureAggregationError/Code/replayed`` when called twice.
    public mutating func advertiseKeys() throws(SecureAggregationError) -> AdvertiseKeysMessage {
        guard case .created = state else {
            throw error(.replayed, .advertiseKeys, "keys were already advertised this round; a phone advertises once")
        }
        state = .advertised
        return AdvertiseKeysMessage(
            round: configuration.round, phone: phone, encryptionKey: Array(encryptionKey.publicKey.rawRepresentation),
            maskKey: Array(maskKey.publicKey.rawRepresentation))
    }

    /// Stage 1: seals t-of-n Shamir shares of b_u and s_u^SK for every neighbour that advertised.
    ///
    /// Entries for phones that are not this phone's neighbours, duplicates and malformed keys
    /// are refused and left out.
    /// - Throws: ``SecureAggregationError/Code/tooFewNeighbours`` when fewer than t neighbours
    ///   advertised (the phone cannot take part; it drops out), or an ordering error.
    public mutating func shareKeys(
        _ message: NeighbourKeysMessage, using generator: inout some RandomNumberGenerator
    ) throws(SecureAggregationError) -> Output<ShareKeysMessage> {
        try check(round: message.round, recipient: message.phone, stage: .shareKeys, expected: .advertised)
        var refusals: [SecureAggregationError] = []
        var keys: [Int: AdvertiseKeysMessage] = [:]
        for entry in message.keys {
            guard configuration.graph.areNeighbours(phone, entry.phone) else {
                refusals.append(
                    error(
                        .wrongRecipient, .shareKeys, phone: entry.phone,
                        "keys of a phone that is not a neighbour; ignored"))
                continue
            }
            guard keys[entry.phone] == nil else {
                refusals.append(
                    error(.duplicateKey, .shareKeys, phone: entry.phone, "keys listed twice; the first kept"))
                continue
            }
            guard (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: entry.encryptionKey)) != nil,
                (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: entry.maskKey)) != nil
            else {
                refusals.append(
                    error(.invalidKey, .shareKeys, phone: entry.phone, "keys are not 32-byte X25519 keys; ignored"))
                continue
            }
            keys[entry.phone] = entry
        }
        let holders = keys.keys.sorted()
        guard holders.count >= configuration.threshold else {
            throw error(
                .tooFewNeighbours, .shareKeys,
                "only \(holders.count) neighbours advertised keys, fewer than the threshold t = \(configuration.threshold); the phone sits this round out"
            )
        }
        let xs = holders.map { UInt64($0 + 1) }
        let t = configuration.threshold
        let selfShares = ShamirSharing.split(selfMaskSeed, threshold: t, holders: xs, using: &generator)
        let keyShares = ShamirSharing.split(
            maskKeyBytes, threshold: t, holders: xs, using: &generator)
        var envelopes: [EncryptedShare] = []
        envelopes.reserveCapacity(holders.count)
        var pairKeys: [Int: [UInt8]] = [:]
        // Built once: making a private key from its bytes costs a scalar multiplication.
        let encryptionKey = self.encryptionKey
        for (i, holder) in holders.enumerated() {
            let peer = try Self.publicKey(keys[holder]!.encryptionKey)
            let key = try KeyDerivation.shareEncryptionKey(
                privateKey: encryptionKey, peerKey: peer, round: configuration.round, phone: phone, peer: holder)
            pairKeys[holder] = key.withUnsafeBytes { Array($0) }
            let plaintext = Self.sharePlaintext(
                sender: phone, recipient: holder, selfMask: selfShares[i], maskKey: keyShares[i])
            let nonceBytes = KeyDerivation.randomBytes(using: &generator).prefix(12)
            do {
                let box = try ChaChaPoly.seal(
                    plaintext, using: key, nonce: ChaChaPoly.Nonce(data: nonceBytes),
                    authenticating: Self.associatedData(round: configuration.round, sender: phone, recipient: holder))
                envelopes.append(EncryptedShare(sender: phone, recipient: holder, sealed: Array(box.combined)))
            } catch {
                preconditionFailure("ChaChaPoly refused a 256-bit key and a 12-byte nonce: \(error)")
            }
        }
        neighbourKeys = keys
        shareHolders = Set(holders)
        self.pairKeys = pairKeys
        state = .shared
        return Output(
            message: ShareKeysMessage(
                round: configuration.round, phone: phone,
                selfMaskCommitment: KeyDerivation.selfMaskCommitment(
                    seed: selfMaskSeed, round: configuration.round, phone: phone),
                shares: envelopes),
            refusals: refusals)
    }

    /// Stage 2: opens the neighbours' envelopes and masks `input`.
    ///
    /// y = x + PRG(b_u) + Σ_{v shared, v > u} PRG(s_uv) − Σ_{v shared, v < u} PRG(s_uv) mod 2^m,
    /// over the neighbours whose envelopes the server forwarded (those that completed stage 1;
    /// a tampered envelope is refused but its sender is still masked with, since it masked with
    /// this phone).
    /// - Parameter input: ``SecureAggregationConfiguration/vectorLength`` values below 2^b, or
    ///   any elements of Z_2^m (values below 2^m) when ``MaskRing/ringElementInputs``.
    /// - Throws: ``SecureAggregationError/Code/wrongLength`` or
    ///   ``SecureAggregationError/Code/inputOutOfRange`` for a bad input (a bug in the phone's
    ///   codec), or an ordering error.
    public mutating func maskedInput(
        _ message: ForwardedSharesMessage, input: [UInt32]
    ) throws(SecureAggregationError) -> Output<MaskedInputMessage> {
        try check(round: message.round, recipient: message.phone, stage: .maskedInput, expected: .shared)
        guard input.count == configuration.vectorLength else {
            throw error(
                .wrongLength, .maskedInput,
                "input has \(input.count) coordinates, the round \(configuration.vectorLength); quantize the whole update"
            )
        }
        if configuration.ring.ringElementInputs {
            let outside = ~configuration.ring.modulusMask
            if let bad = input.firstIndex(where: { $0 & outside != 0 }) {
                throw error(
                    .inputOutOfRange, .maskedInput,
                    "coordinate \(bad) is not an element of Z_2^\(configuration.ring.bits); reduce signed values modulo 2^\(configuration.ring.bits)"
                )
            }
        } else {
            let limit = UInt32(1) << UInt32(configuration.ring.inputBits)
            if let bad = input.firstIndex(where: { $0 >= limit }) {
                throw error(
                    .inputOutOfRange, .maskedInput,
                    "coordinate \(bad) does not fit in \(configuration.ring.inputBits) bits; quantize to the round's bit width"
                )
            }
        }
        var refusals: [SecureAggregationError] = []
        var held: [Int: (selfMask: ShamirShare, maskKey: ShamirShare)] = [:]
        var partners = Set<Int>()
        for envelope in message.shares {
            let sender = envelope.sender
            guard shareHolders.contains(sender), envelope.recipient == phone else {
                refusals.append(
                    error(
                        .wrongRecipient, .maskedInput, phone: sender,
                        "an envelope from phone \(sender) to phone \(envelope.recipient) is not for this phone's neighbourhood; ignored"
                    ))
                continue
            }
            guard !partners.contains(sender) else {
                refusals.append(
                    error(
                        .duplicateShare, .maskedInput, phone: sender, "two envelopes from this sender; the first kept"))
                continue
            }
            partners.insert(sender)
            do throws(SecureAggregationError) {
                held[sender] = try open(envelope)
            } catch {
                refusals.append(error)
            }
        }
        var words = input
        let maskKey = self.maskKey
        MaskExpander.apply(seed: SymmetricKey(data: selfMaskSeed), negated: false, to: &words)
        for peer in partners.sorted() {
            let peerKey = try Self.publicKey(neighbourKeys[peer]!.maskKey)
            let seed = try KeyDerivation.pairwiseMaskSeed(
                privateKey: maskKey, peerKey: peerKey, round: configuration.round, phone: phone, peer: peer)
            MaskExpander.apply(seed: seed, negated: peer < phone, to: &words)
        }
        heldShares = held
        maskedWith = partners
        state = .maskedInputSent
        return Output(
            message: MaskedInputMessage(
                round: configuration.round, phone: phone, count: words.count, packed: configuration.ring.pack(words)),
            refusals: refusals)
    }

    /// Stage 3: reveals the self-mask share of each listed survivor and the mask-key share of
    /// each listed dropped neighbour.
    ///
    /// The phone never reveals both secrets of one phone: a request that lists a phone as both,
    /// or lists this phone as dropped, is refused whole (the server is not following the
    /// protocol). Listed phones whose share this phone lacks (not neighbours, or envelopes it
    /// refused) are skipped and reported.
    public mutating func unmask(_ message: UnmaskRequestMessage) throws(SecureAggregationError) -> Output<UnmaskMessage>
    {
        try check(round: message.round, recipient: message.phone, stage: .unmask, expected: .maskedInputSent)
        let survivors = Set(message.survivors)
        let dropped = Set(message.dropped)
        guard survivors.isDisjoint(with: dropped), !dropped.contains(phone) else {
            throw error(
                .invalidShare, .unmask,
                "the request asks for both secrets of one phone (or lists this phone as dropped); revealing them would unmask an input, so the phone refuses"
            )
        }
        var refusals: [SecureAggregationError] = []
        var selfMask: [RevealedShare] = []
        var keys: [RevealedShare] = []
        for owner in survivors.sorted() where owner != phone {
            if let held = heldShares[owner] {
                selfMask.append(RevealedShare(owner: owner, share: held.selfMask))
            } else {
                refusals.append(error(.invalidShare, .unmask, phone: owner, "no share held for this phone; skipped"))
            }
        }
        for owner in dropped.sorted() {
            if let held = heldShares[owner] {
                keys.append(RevealedShare(owner: owner, share: held.maskKey))
            } else {
                refusals.append(error(.invalidShare, .unmask, phone: owner, "no share held for this phone; skipped"))
            }
        }
        state = .finished
        return Output(
            message: UnmaskMessage(
                round: configuration.round, phone: phone, selfMaskShares: selfMask, maskKeyShares: keys),
            refusals: refusals)
    }

    private func open(_ envelope: EncryptedShare) throws(SecureAggregationError) -> (
        selfMask: ShamirShare, maskKey: ShamirShare
    ) {
        let sender = envelope.sender
        // HKDF's info orders the pair, so the key this phone sealed with is the sender's too.
        let key = SymmetricKey(data: pairKeys[sender]!)
        let plaintext: Data
        do {
            let box = try ChaChaPoly.SealedBox(combined: envelope.sealed)
            plaintext = try ChaChaPoly.open(
                box, using: key,
                authenticating: Self.associatedData(round: configuration.round, sender: sender, recipient: phone))
        } catch {
            throw self.error(
                .shareDecryptionFailed, .maskedInput, phone: sender,
                "the envelope from this phone fails authenticated decryption (tampered, or sealed for another phone); its share is dropped"
            )
        }
        guard let parsed = Self.parseSharePlaintext(Array(plaintext)), parsed.sender == sender,
            parsed.recipient == phone
        else {
            throw self.error(
                .wrongRecipient, .maskedInput, phone: sender,
                "the envelope decrypts to shares of another sender or recipient; its share is dropped")
        }
        return (parsed.selfMask, parsed.maskKey)
    }

    static func privateKey(_ raw: [UInt8]) -> Curve25519.KeyAgreement.PrivateKey {
        do {
            return try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw)
        } catch {
            preconditionFailure("X25519 refused 32 bytes as a private key: \(error)")
        }
    }

    static func publicKey(_ raw: [UInt8]) throws(SecureAggregationError) -> Curve25519.KeyAgreement.PublicKey {
        do {
            return try Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw)
        } catch {
            throw SecureAggregationError(code: .invalidKey, message: "a public key is not 32 bytes")
        }
    }

    static func associatedData(round: UInt64, sender: Int, recipient: Int) -> [UInt8] {
        var out = Array("kbd-sim secagg+ share".utf8)
        KeyDerivation.appendLittleEndian(round, to: &out)
        KeyDerivation.appendLittleEndian(UInt64(sender), to: &out)
        KeyDerivation.appendLittleEndian(UInt64(recipient), to: &out)
        return out
    }

    /// sender (4) ‖ recipient (4) ‖ 5 self-mask values (40) ‖ 5 mask-key values (40), little-endian.
    static func sharePlaintext(sender: Int, recipient: Int, selfMask: ShamirShare, maskKey: ShamirShare) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + 16 * ShamirSharing.chunkCount)
        for v in [UInt32(sender), UInt32(recipient)] {
            withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
        }
        for value in selfMask.values + maskKey.values { KeyDerivation.appendLittleEndian(value.value, to: &out) }
        return out
    }

    static func parseSharePlaintext(_ bytes: [UInt8]) -> (
        sender: Int, recipient: Int, selfMask: ShamirShare, maskKey: ShamirShare
    )? {
        let n = ShamirSharing.chunkCount
        guard bytes.count == 8 + 16 * n else { return nil }
        let sender = Int(KeyDerivation.readLittleEndian(bytes[0..<4]))
        let recipient = Int(KeyDerivation.readLittleEndian(bytes[4..<8]))
        var values: [FieldElement] = []
        for i in 0..<(2 * n) {
            let v = KeyDerivation.readLittleEndian(bytes[(8 + 8 * i)..<(16 + 8 * i)])
            guard v < FieldElement.modulus else { return nil }
            values.append(FieldElement(v))
        }
        let x = UInt64(recipient + 1)
        return (
            sender, recipient, ShamirShare(x: x, values: Array(values[0..<n])),
            ShamirShare(x: x, values: Array(values[n...]))
        )
    }
}
