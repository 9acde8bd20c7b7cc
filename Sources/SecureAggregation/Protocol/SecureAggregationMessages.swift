/// Stage 0, phone → server: the phone's two X25519 public keys.
public struct AdvertiseKeysMessage: Sendable, Hashable {
    /// The round.
    public var round: UInt64
    /// The sender's index in the cohort.
    public var phone: Int
    /// c_u^PK (32 bytes): the key neighbours encrypt shares to.
    public var encryptionKey: [UInt8]
    /// s_u^PK (32 bytes): the key pairwise mask seeds are agreed with.
    public var maskKey: [UInt8]

    /// Creates a message.
    public init(round: UInt64, phone: Int, encryptionKey: [UInt8], maskKey: [UInt8]) {
        self.round = round
        self.phone = phone
        self.encryptionKey = encryptionKey
        self.maskKey = maskKey
    }

    /// Bytes on the wire: round (8), phone (4), two keys (64).
    public var wireByteCount: Int { 12 + encryptionKey.count + maskKey.count }
}

/// Stage 0's answer, server → phone: the keys of the phone's neighbours that advertised.
public struct NeighbourKeysMessage: Sendable, Hashable {
    /// The round.
    public var round: UInt64
    /// The recipient.
    public var phone: Int
    /// One entry per neighbour that advertised keys, in ascending phone order.
    public var keys: [AdvertiseKeysMessage]

    /// Creates a message.
    public init(round: UInt64, phone: Int, keys: [AdvertiseKeysMessage]) {
        self.round = round
        self.phone = phone
        self.keys = keys
    }

    /// Bytes on the wire: round, recipient, count (16) and 68 per neighbour (index and keys).
    public var wireByteCount: Int { 16 + keys.reduce(0) { $0 + 4 + $1.encryptionKey.count + $1.maskKey.count } }
}

/// One phone's shares for one neighbour, sealed with ChaChaPoly (RFC 8439) under the key both
/// derive from their encryption keys; the server forwards it and cannot read it.
public struct EncryptedShare: Sendable, Hashable {
    /// The phone that made the shares.
    public var sender: Int
    /// The neighbour they are for.
    public var recipient: Int
    /// nonce (12) ‖ ciphertext of (sender, recipient, self-mask share, mask-key share) ‖ tag (16).
    public var sealed: [UInt8]

    /// Creates a share envelope.
    public init(sender: Int, recipient: Int, sealed: [UInt8]) {
        self.sender = sender
        self.recipient = recipient
        self.sealed = sealed
    }

    /// Bytes on the wire: sender and recipient (8) and the sealed box.
    public var wireByteCount: Int { 8 + sealed.count }
}

/// Stage 1, phone → server: a commitment to the self-mask seed and one sealed share pair per
/// neighbour that advertised keys.
public struct ShareKeysMessage: Sendable, Hashable {
    /// The round.
    public var round: UInt64
    /// The sender.
    public var phone: Int
    /// SHA-256 commitment to the self-mask seed b_u (lets the server check a rebuilt seed).
    public var selfMaskCommitment: [UInt8]
    /// Exactly one per neighbour in the phone's ``NeighbourKeysMessage``.
    public var shares: [EncryptedShare]

    /// Creates a message.
    public init(round: UInt64, phone: Int, selfMaskCommitment: [UInt8], shares: [EncryptedShare]) {
        self.round = round
        self.phone = phone
        self.selfMaskCommitment = selfMaskCommitment
        self.shares = shares
    }

    /// Bytes on the wire: round, phone, count (16), commitment and the envelopes.
    public var wireByteCount: Int { 16 + selfMaskCommitment.count + shares.reduce(0) { $0 + $1.wireByteCount } }
}

/// Stage 1's answer, server → phone: the envelopes its neighbours that shared addressed to it.
///
/// The senders listed are the phone's neighbours that completed *share keys*: exactly the ones
/// it must mask pairwise with.
public struct ForwardedSharesMessage: Sendable, Hashable {
    /// The round.
    public var round: UInt64
    /// The recipient.
    public var phone: Int
    /// One envelope per neighbour that shared, ascending by sender.
    public var shares: [EncryptedShare]

    /// Creates a message.
    public init(round: UInt64, phone: Int, shares: [EncryptedShare]) {
        self.round = round
        self.phone = phone
        self.shares = shares
    }

    /// Bytes on the wire: round, recipient, count (16) and the envelopes.
    public var wireByteCount: Int { 16 + shares.reduce(0) { $0 + $1.wireByteCount } }
}

/// Stage 2, phone → server: y_u = x_u + PRG(b_u) + Σ_v ±PRG(s_uv) mod 2^m, packed at m bits.
public struct MaskedInputMessage: Sendable, Hashable {
    /// The round.
    public var round: UInt64
    /// The sender.
    public var phone: Int
    /// Coordinates.
    public var count: Int
    /// The masked coordinates, m bits each (``MaskRing/pack(_:)``).
    public var packed: [UInt8]

    /// Creates a message.
    public init(round: UInt64, phone: Int, count: Int, packed: [UInt8]) {
        self.round = round
        self.phone = phone
        self.count = count
        self.packed = packed
    }

    /// Bytes on the wire: round, phone, count (16) and the packed vector.
    public var wireByteCount: Int { 16 + packed.count }
}

/// Stage 2's answer, server → phone: which neighbours sent masked input (reveal their self-mask
/// shares) and which shared keys but sent no input (reveal their mask-key shares).
public struct UnmaskRequestMessage: Sendable, Hashable {
    /// The round.
    public var round: UInt64
    /// The recipient.
    public var phone: Int
    /// Neighbours whose masked input is in the sum: reveal the b-share.
    public var survivors: [Int]
    /// Neighbours that shared keys but whose input is not in the sum: reveal the s-share.
    public var dropped: [Int]

    /// Creates a message.
    public init(round: UInt64, phone: Int, survivors: [Int], dropped: [Int]) {
        self.round = round
        self.phone = phone
        self.survivors = survivors
        self.dropped = dropped
    }

    /// Bytes on the wire: round, recipient, two counts (20) and 4 per listed phone.
    public var wireByteCount: Int { 20 + 4 * (survivors.count + dropped.count) }
}

/// A share revealed in the unmask stage: whose secret it is, and the share.
public struct RevealedShare: Sendable, Hashable {
    /// The phone whose secret the share is of.
    public var owner: Int
    /// The share (x = the revealing phone's index + 1).
    public var share: ShamirShare

    /// Creates a revealed share.
    public init(owner: Int, share: ShamirShare) {
        self.owner = owner
        self.share = share
    }

    /// Bytes on the wire: owner (4) and the share.
    public var wireByteCount: Int { 4 + share.wireByteCount }
}

/// Stage 3, phone → server: the requested shares.
public struct UnmaskMessage: Sendable, Hashable {
    /// The round.
    public var round: UInt64
    /// The sender.
    public var phone: Int
    /// Shares of the self-mask seeds of the phones in ``UnmaskRequestMessage/survivors``.
    public var selfMaskShares: [RevealedShare]
    /// Shares of the mask secret keys of the phones in ``UnmaskRequestMessage/dropped``.
    public var maskKeyShares: [RevealedShare]

    /// Creates a message.
    public init(round: UInt64, phone: Int, selfMaskShares: [RevealedShare], maskKeyShares: [RevealedShare]) {
        self.round = round
        self.phone = phone
        self.selfMaskShares = selfMaskShares
        self.maskKeyShares = maskKeyShares
    }

    /// Bytes on the wire: round, phone, two counts (20) and the shares.
    public var wireByteCount: Int {
        20 + (selfMaskShares + maskKeyShares).reduce(0) { $0 + $1.wireByteCount }
    }
}
