import Crypto
internal import Foundation

/// The server's side of a secure-aggregation round: a value-type state machine that takes the
/// phones' messages one at a time and, when the owner closes a stage, returns what to send.
///
/// The server only ever holds the *sum* of the masked inputs: each masked input is added to
/// the running sum as it arrives and not kept, and unmasking subtracts masks from that sum. It
/// rebuilds, for each phone, either the self-mask seed (the phone's input is in the sum) or
/// the mask secret key (it shared keys but its input is not in the sum), never both.
///
/// A refused message throws a ``SecureAggregationError`` and leaves the state as it was: the
/// sender counts as not having completed that stage, and the round goes on without it. When
/// the round cannot give a correct sum (a needed secret has fewer than t shares, shares that
/// do not rebuild a secret matching its commitment, or fewer than t inputs), the closing
/// method returns ``Action/abandon(_:)`` and every later call is refused.
public struct SecureAggregationServer: Sendable {
    /// What the owner does after closing a stage.
    public enum Action<Messages: Sendable>: Sendable {
        /// Deliver these messages (one per phone still in the round).
        case send(Messages)
        /// Give the round up: no sum, nothing committed.
        case abandon(SecureAggregationError)
    }

    /// The round's output: the sum, who is in it, and what was refused on the way.
    public struct Result: Sendable {
        /// Σ x_u over ``contributors``, modulo 2^m (equal to the integer sum: it cannot wrap).
        public var sum: [UInt32]
        /// Phones whose input is in the sum, ascending.
        public var contributors: [Int]
        /// Shares found inconsistent with their secret's commitment (the phones that sent them).
        public var refusals: [SecureAggregationError]
    }

    /// The round's configuration.
    /// Threads the unmask pass uses (default: every core this process may use).
    public var unmaskThreads = ProcessInfo.processInfo.activeProcessorCount
    public let configuration: SecureAggregationConfiguration
    /// The stage open for messages, or nil once finished or abandoned.
    public private(set) var stage: SecureAggregationStage? = .advertiseKeys
    private var abandonment: SecureAggregationError?
    private var keys: [Int: AdvertiseKeysMessage] = [:]
    private var seenKeys: Set<[UInt8]> = []
    private var shareMessages: [Int: ShareKeysMessage] = [:]
    /// The running sum of masked inputs (never an individual one).
    private var sum: [UInt32]
    private var maskedInputs: Set<Int> = []
    private var requests: [Int: UnmaskRequestMessage] = [:]
    private var selfMaskShares: [Int: [ShamirShare]] = [:]
    private var maskKeyShares: [Int: [ShamirShare]] = [:]
    private var unmasked: Set<Int> = []

    /// A server waiting for the phones' keys.
    public init(configuration: SecureAggregationConfiguration) {
        self.configuration = configuration
        self.sum = [UInt32](repeating: 0, count: configuration.vectorLength)
    }

    /// Phones that advertised keys (U1).
    public var advertisers: [Int] { keys.keys.sorted() }
    /// Phones that shared keys (U2).
    public var sharers: [Int] { shareMessages.keys.sorted() }
    /// Phones whose masked input is in the sum (U3).
    public var contributors: [Int] { maskedInputs.sorted() }

    private func error(
        _ code: SecureAggregationError.Code, _ phone: Int?, _ stage: SecureAggregationStage, _ message: String
    ) -> SecureAggregationError {
        SecureAggregationError(code: code, phone: phone, stage: stage, message: message)
    }

    /// Checks round, cohort membership and stage; returns nothing or throws.
    private func admit(round: UInt64, phone: Int, stage messageStage: SecureAggregationStage)
        throws(SecureAggregationError)
    {
        if let abandonment {
            throw error(
                .roundAbandoned, phone, messageStage,
                "the round was abandoned (\(abandonment.message)); start a new one")
        }
        guard phone >= 0 && phone < configuration.cohortSize else {
            throw error(
                .unknownPhone, phone, messageStage,
                "phone \(phone) is not in this round's cohort of \(configuration.cohortSize); only selected phones take part"
            )
        }
        guard round == configuration.round else {
            throw error(
                .wrongRound, phone, messageStage,
                "a \(messageStage.rawValue) message of round \(round) sent to round \(configuration.round) (a replay); refused"
            )
        }
        guard let stage, stage == messageStage else {
            let open = stage?.rawValue ?? "none (finished)"
            throw error(
                .outOfOrder, phone, messageStage,
                "a \(messageStage.rawValue) message while the open stage is \(open); send each stage's message when it opens"
            )
        }
    }

    // MARK: Stage 0

    /// Takes a phone's public keys.
    ///
    /// - Throws: ``SecureAggregationError/Code/duplicateKey`` for a second advertisement or a key
    ///   another phone advertised; ``SecureAggregationError/Code/invalidKey`` for a key that is
    ///   not 32 bytes; an admission error.
    public mutating func receive(_ message: AdvertiseKeysMessage) throws(SecureAggregationError) {
        try admit(round: message.round, phone: message.phone, stage: .advertiseKeys)
        guard keys[message.phone] == nil else {
            throw error(
                .duplicateKey, message.phone, .advertiseKeys,
                "keys advertised twice; a phone advertises one pair per round, the first is kept")
        }
        guard message.encryptionKey.count == 32, message.maskKey.count == 32,
            (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: message.encryptionKey)) != nil,
            (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: message.maskKey)) != nil
        else {
            throw error(.invalidKey, message.phone, .advertiseKeys, "public keys must be 32-byte X25519 keys")
        }
        guard message.encryptionKey != message.maskKey, !seenKeys.contains(message.encryptionKey),
            !seenKeys.contains(message.maskKey)
        else {
            throw error(
                .duplicateKey, message.phone, .advertiseKeys,
                "a public key equal to one already advertised (its own other key or another phone's); generate fresh keys"
            )
        }
        seenKeys.insert(message.encryptionKey)
        seenKeys.insert(message.maskKey)
        keys[message.phone] = message
    }

    /// Closes stage 0: each advertiser gets its advertising neighbours' keys.
    public mutating func closeAdvertiseKeys() -> Action<[NeighbourKeysMessage]> {
        guard stage == .advertiseKeys else { return .abandon(closedOutOfOrder(.advertiseKeys)) }
        if keys.count < configuration.threshold + 1 {
            return abandon(
                error(
                    .roundAbandoned, nil, .advertiseKeys,
                    "only \(keys.count) phones advertised keys; a sum needs at least t + 1 = \(configuration.threshold + 1)"
                ))
        }
        stage = .shareKeys
        let graph = configuration.graph
        return .send(
            advertisers.map { phone in
                NeighbourKeysMessage(
                    round: configuration.round, phone: phone,
                    keys: graph.neighbours(of: phone).compactMap { keys[$0] })
            })
    }

    // MARK: Stage 1

    /// Takes a phone's commitment and sealed shares.
    ///
    /// The phone must send exactly one envelope to each neighbour that advertised, and none to
    /// anyone else: otherwise neighbours would disagree on whom to mask with.
    /// - Throws: ``SecureAggregationError/Code/skippedStage`` (no keys advertised),
    ///   ``SecureAggregationError/Code/replayed``, ``SecureAggregationError/Code/duplicateShare``,
    ///   ``SecureAggregationError/Code/wrongRecipient`` (a share for a non-neighbour, or a
    ///   neighbour left out), or an admission error.
    public mutating func receive(_ message: ShareKeysMessage) throws(SecureAggregationError) {
        let phone = message.phone
        try admit(round: message.round, phone: phone, stage: .shareKeys)
        guard keys[phone] != nil else {
            throw error(
                .skippedStage, phone, .shareKeys,
                "shares from a phone that advertised no keys; it must start at stage 0")
        }
        guard shareMessages[phone] == nil else {
            throw error(.replayed, phone, .shareKeys, "shares sent twice; the first are kept")
        }
        guard message.selfMaskCommitment.count == 32 else {
            throw error(.invalidShare, phone, .shareKeys, "the self-mask commitment must be 32 bytes (SHA-256)")
        }
        let expected = Set(configuration.graph.neighbours(of: phone).filter { keys[$0] != nil })
        var seen = Set<Int>()
        for envelope in message.shares {
            guard envelope.sender == phone else {
                throw error(.wrongRecipient, phone, .shareKeys, "an envelope names phone \(envelope.sender) as sender")
            }
            guard expected.contains(envelope.recipient) else {
                throw error(
                    .wrongRecipient, phone, .shareKeys,
                    "a share for phone \(envelope.recipient), which is not an advertising neighbour; share with neighbours only"
                )
            }
            guard seen.insert(envelope.recipient).inserted else {
                throw error(
                    .duplicateShare, phone, .shareKeys,
                    "two shares for phone \(envelope.recipient); send exactly one per neighbour")
            }
        }
        guard seen.count == expected.count else {
            throw error(
                .wrongRecipient, phone, .shareKeys,
                "shares for \(seen.count) of its \(expected.count) advertising neighbours; every one needs a share")
        }
        shareMessages[phone] = message
    }

    /// Closes stage 1: each sharer gets the envelopes addressed to it by its sharing neighbours.
    public mutating func closeShareKeys() -> Action<[ForwardedSharesMessage]> {
        guard stage == .shareKeys else { return .abandon(closedOutOfOrder(.shareKeys)) }
        if shareMessages.count < configuration.threshold + 1 {
            return abandon(
                error(
                    .roundAbandoned, nil, .shareKeys,
                    "only \(shareMessages.count) phones shared keys; a sum needs at least t + 1 = \(configuration.threshold + 1)"
                ))
        }
        stage = .maskedInput
        var inbox: [Int: [EncryptedShare]] = [:]
        for sender in sharers {
            for envelope in shareMessages[sender]!.shares where shareMessages[envelope.recipient] != nil {
                inbox[envelope.recipient, default: []].append(envelope)
            }
        }
        return .send(
            sharers.map { ForwardedSharesMessage(round: configuration.round, phone: $0, shares: inbox[$0] ?? []) })
    }

    // MARK: Stage 2

    /// Adds a phone's masked input to the running sum (the message is not kept).
    ///
    /// - Throws: ``SecureAggregationError/Code/skippedStage`` (no shares sent),
    ///   ``SecureAggregationError/Code/replayed``, ``SecureAggregationError/Code/wrongLength``,
    ///   or an admission error.
    public mutating func receive(_ message: MaskedInputMessage) throws(SecureAggregationError) {
        let phone = message.phone
        try admit(round: message.round, phone: phone, stage: .maskedInput)
        guard shareMessages[phone] != nil else {
            throw error(
                .skippedStage, phone, .maskedInput,
                "masked input from a phone that shared no keys; its masks could not be removed, so it is refused")
        }
        guard !maskedInputs.contains(phone) else {
            throw error(.replayed, phone, .maskedInput, "masked input sent twice; the first is in the sum")
        }
        let n = configuration.vectorLength
        let bytes = configuration.ring.packedByteCount(n)
        guard message.count == n, message.packed.count == bytes else {
            throw error(
                .wrongLength, phone, .maskedInput,
                "masked input of \(message.count) coordinates in \(message.packed.count) bytes; the round takes \(n) coordinates of \(configuration.ring.bits) bits (\(bytes) bytes)"
            )
        }
        configuration.ring.unpackAndAdd(message.packed, into: &sum)
        maskedInputs.insert(phone)
    }

    /// Closes stage 2: each contributor is asked for its shares of its neighbours' secrets.
    public mutating func closeMaskedInput() -> Action<[UnmaskRequestMessage]> {
        guard stage == .maskedInput else { return .abandon(closedOutOfOrder(.maskedInput)) }
        let t = configuration.threshold
        if maskedInputs.count < t {
            return abandon(
                error(
                    .roundAbandoned, nil, .maskedInput,
                    "only \(maskedInputs.count) masked inputs; a sum needs at least t = \(t) so no input stands alone"))
        }
        // Each needed secret must have at least t holders among the contributors (only they are asked).
        for owner in sharers {
            let holders = shareMessages[owner]!.shares.filter { maskedInputs.contains($0.recipient) }.count
            if holders < t {
                return abandon(
                    error(
                        .roundAbandoned, owner, .maskedInput,
                        "only \(holders) of this phone's share holders are still in the round, fewer than t = \(t)"))
            }
        }
        stage = .unmask
        let graph = configuration.graph
        let messages = contributors.map { phone in
            let neighbours = graph.neighbours(of: phone).filter { shareMessages[$0] != nil }
            return UnmaskRequestMessage(
                round: configuration.round, phone: phone, survivors: neighbours.filter { maskedInputs.contains($0) },
                dropped: neighbours.filter { !maskedInputs.contains($0) })
        }
        for m in messages { requests[m.phone] = m }
        return .send(messages)
    }

    // MARK: Stage 3

    /// Takes a contributor's revealed shares.
    ///
    /// - Throws: ``SecureAggregationError/Code/skippedStage`` (no masked input),
    ///   ``SecureAggregationError/Code/replayed``, ``SecureAggregationError/Code/duplicateShare``,
    ///   ``SecureAggregationError/Code/invalidShare`` (a share not requested, of the wrong kind,
    ///   with the wrong x or malformed), or an admission error.
    public mutating func receive(_ message: UnmaskMessage) throws(SecureAggregationError) {
        let phone = message.phone
        try admit(round: message.round, phone: phone, stage: .unmask)
        guard let request = requests[phone] else {
            throw error(
                .skippedStage, phone, .unmask, "shares from a phone whose masked input is not in the sum; refused")
        }
        guard !unmasked.contains(phone) else {
            throw error(.replayed, phone, .unmask, "shares revealed twice; the first are kept")
        }
        func validate(_ shares: [RevealedShare], allowed: Set<Int>, kind: String) throws(SecureAggregationError) {
            var owners = Set<Int>()
            for revealed in shares {
                guard allowed.contains(revealed.owner) else {
                    throw error(
                        .invalidShare, phone, .unmask,
                        "a \(kind) share of phone \(revealed.owner), which was not requested of this phone as \(kind)")
                }
                guard owners.insert(revealed.owner).inserted else {
                    throw error(.duplicateShare, phone, .unmask, "two \(kind) shares of phone \(revealed.owner)")
                }
                let share = revealed.share
                guard share.x == UInt64(phone + 1), share.values.count == ShamirSharing.chunkCount,
                    share.values.allSatisfy({ $0.value < FieldElement.modulus })
                else {
                    throw error(
                        .invalidShare, phone, .unmask,
                        "the \(kind) share of phone \(revealed.owner) is malformed (x must be the sender's index + 1, \(ShamirSharing.chunkCount) values)"
                    )
                }
            }
        }
        try validate(message.selfMaskShares, allowed: Set(request.survivors), kind: "self-mask")
        try validate(message.maskKeyShares, allowed: Set(request.dropped), kind: "mask-key")
        for revealed in message.selfMaskShares { selfMaskShares[revealed.owner, default: []].append(revealed.share) }
        for revealed in message.maskKeyShares { maskKeyShares[revealed.owner, default: []].append(revealed.share) }
        unmasked.insert(phone)
    }

    /// Closes the round: rebuilds the needed secrets, removes their masks from the sum and
    /// returns it.
    ///
    /// - Complexity: one PRG pass over the vector per contributor (its self mask) and one per
    ///   (dropped sharer, contributing neighbour) pair.
    public mutating func finish() -> Action<Result> {
        guard stage == .unmask else { return .abandon(closedOutOfOrder(.unmask)) }
        let t = configuration.threshold
        var refusals: [SecureAggregationError] = []
        var seeds: [(owner: Int, seed: SymmetricKey)] = []
        for owner in contributors {
            let shares = selfMaskShares[owner] ?? []
            let commitment = shareMessages[owner]!.selfMaskCommitment
            let round = configuration.round
            switch Self.rebuild(
                shares, threshold: t,
                verify: { secret in
                    KeyDerivation.selfMaskCommitment(seed: secret, round: round, phone: owner) == commitment
                })
            {
            case .success(let (secret, wrong)):
                seeds.append((owner, SymmetricKey(data: secret)))
                refusals += wrong.map { self.wrongShare(from: $0, owner: owner, kind: "self-mask") }
            case .failure(let problem):
                return abandon(problem.error(owner: owner, kind: "self-mask seed", threshold: t))
            }
        }
        var pairwise: [(seed: SymmetricKey, negated: Bool)] = []
        for owner in sharers where !maskedInputs.contains(owner) {
            let shares = maskKeyShares[owner] ?? []
            let advertised = keys[owner]!.maskKey
            switch Self.rebuild(
                shares, threshold: t,
                verify: { secret in
                    (try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secret))
                        .map { Array($0.publicKey.rawRepresentation) == advertised } ?? false
                })
            {
            case .success(let (secret, wrong)):
                refusals += wrong.map { self.wrongShare(from: $0, owner: owner, kind: "mask-key") }
                let privateKey = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secret)
                for peer in configuration.graph.neighbours(of: owner) where maskedInputs.contains(peer) {
                    do {
                        let peerKey = try SecureAggregationClient.publicKey(keys[peer]!.maskKey)
                        let seed = try KeyDerivation.pairwiseMaskSeed(
                            privateKey: privateKey, peerKey: peerKey, round: configuration.round, phone: owner,
                            peer: peer)
                        // The peer added +PRG(s) if peer < owner, −PRG(s) otherwise; undo it.
                        pairwise.append((seed, peer < owner))
                    } catch {
                        return abandon(error)
                    }
                }
            case .failure(let problem):
                return abandon(problem.error(owner: owner, kind: "mask secret key", threshold: t))
            }
        }
        // Every mask pass over the vector, split across the cores (the same bits as one by one).
        let masks = seeds.map { (seed: $0.seed, negated: true) } + pairwise
        MaskExpander.applyAll(masks, to: &sum, threads: unmaskThreads)
        configuration.ring.reduce(&sum)
        stage = nil
        let result = Result(sum: sum, contributors: contributors, refusals: refusals)
        sum = []
        return .send(result)
    }

    private func wrongShare(from x: UInt64, owner: Int, kind: String) -> SecureAggregationError {
        error(
            .invalidShare, Int(x) - 1, .unmask,
            "its \(kind) share of phone \(owner) disagrees with the secret the other shares rebuild; the share was ignored"
        )
    }

    private mutating func abandon<M>(_ problem: SecureAggregationError) -> Action<M> {
        var problem = problem
        if problem.code != .roundAbandoned {
            problem = error(.roundAbandoned, problem.phone, problem.stage ?? .unmask, problem.message)
        }
        abandonment = problem
        stage = nil
        sum = []
        return .abandon(problem)
    }

    private func closedOutOfOrder(_ closing: SecureAggregationStage) -> SecureAggregationError {
        error(
            .outOfOrder, nil, closing,
            "closing \(closing.rawValue) while the open stage is \(stage?.rawValue ?? "none"); close stages in order, once"
        )
    }

    enum RebuildProblem: Error {
        case tooFewShares(Int)
        case inconsistent(Int)

        func error(owner: Int, kind: String, threshold: Int) -> SecureAggregationError {
            switch self {
            case .tooFewShares(let n):
                SecureAggregationError(
                    code: .roundAbandoned, phone: owner, stage: .unmask,
                    message:
                        "only \(n) shares of this phone's \(kind) arrived, fewer than t = \(threshold); the round is abandoned, not committed with a wrong sum"
                )
            case .inconsistent(let n):
                SecureAggregationError(
                    code: .roundAbandoned, phone: owner, stage: .unmask,
                    message:
                        "no \(threshold) of the \(n) shares of this phone's \(kind) rebuild a secret matching its commitment; the round is abandoned"
                )
            }
        }
    }

    /// Rebuilds a secret from ≥ t shares and checks it with `verify`. The first t shares are
    /// tried, then up to 32 other t-subsets (deterministically drawn), so a few wrong shares
    /// among more than t are found and named. Returns the secret and the x of shares that
    /// disagree with it.
    static func rebuild(
        _ shares: [ShamirShare], threshold t: Int, verify: ([UInt8]) -> Bool
    ) -> Swift.Result<([UInt8], [UInt64]), RebuildProblem> {
        guard shares.count >= t else { return .failure(.tooFewShares(shares.count)) }
        var rng = ShuffleGenerator(seed: UInt64(shares.count) &* 0x9E37 &+ shares[0].x)
        var subset = Array(shares.prefix(t))
        for attempt in 0...32 {
            if attempt > 0 {
                if shares.count == t { break }
                subset = Array(shares.shuffled(using: &rng).prefix(t))
            }
            guard let secret = ShamirSharing.reconstruct(subset), verify(secret) else { continue }
            let chosen = Set(subset.map(\.x))
            let polynomial = ShamirSharing.Interpolator(subset)
            let wrong = shares.filter { !chosen.contains($0.x) }.filter {
                polynomial.values(at: $0.x) != $0.values
            }.map(\.x)
            return .success((secret, wrong))
        }
        return .failure(.inconsistent(shares.count))
    }
}
