/// A message or a state of a secure-aggregation round that was refused, naming the phone, the
/// stage and what to do about it.
///
/// The server and the phones throw one of these for every bad input and never trap on it; the
/// round goes on without the message (its sender counts as dropped from that stage on) unless
/// the code is ``Code/roundAbandoned``. Messages carry phone indices, stages and counts only,
/// never a value of an update, a key or a share.
public struct SecureAggregationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public enum Code: String, Sendable, Hashable {
        /// The sender is not a phone of this round's cohort.
        case unknownPhone
        /// The message belongs to another round (a replay from an earlier one).
        case wrongRound
        /// The message is for a stage that is not the one open (too early, or too late).
        case outOfOrder
        /// The phone already sent this stage's message (a replay or a retry).
        case replayed
        /// The phone sends a stage's message without having completed the stage before it.
        case skippedStage
        /// A public key is not 32 bytes, is advertised twice by one phone, or is another phone's.
        case duplicateKey
        /// A public key does not decode as an X25519 key.
        case invalidKey
        /// A phone sent two shares for one recipient (share keys) or one owner (unmask).
        case duplicateShare
        /// A share is addressed to a phone that is not the sender's neighbour, or decrypts to
        /// another sender or recipient than the envelope says.
        case wrongRecipient
        /// A share failed authenticated decryption: it was tampered with or is not for this phone.
        case shareDecryptionFailed
        /// A revealed share is malformed, unrequested, or disagrees with the others.
        case invalidShare
        /// A masked input's length (coordinates or bytes) is not the round's.
        case wrongLength
        /// An input value does not fit the round's bit width.
        case inputOutOfRange
        /// A phone has fewer neighbours than the threshold, so its secrets could never be rebuilt.
        case tooFewNeighbours
        /// The round cannot produce a correct sum (fewer than t shares of a needed secret, or too
        /// few phones left); it is abandoned and nothing is committed.
        case roundAbandoned
        /// The cohort, bit width and margin need a ring wider than 32 bits.
        case ringTooSmall
    }

    /// What was wrong.
    public var code: Code
    /// The phone (index in the cohort, 0-based) that sent the message or whose secret is concerned.
    public var phone: Int?
    /// The protocol stage concerned.
    public var stage: SecureAggregationStage?
    /// One sentence: what was wrong and how to fix it.
    public var message: String

    /// Creates an error.
    public init(code: Code, phone: Int? = nil, stage: SecureAggregationStage? = nil, message: String) {
        self.code = code
        self.phone = phone
        self.stage = stage
        self.message = message
    }

    /// `"<stage>: phone N: <message> [code]"`.
    public var description: String {
        var place = ""
        if let stage { place += "\(stage.rawValue): " }
        if let phone { place += "phone \(phone): " }
        return "\(place)\(message) [\(code.rawValue)]"
    }
}

/// The stages of a secure-aggregation round, in order (Bonawitz et al. 2017, rounds 0…3).
public enum SecureAggregationStage: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Each phone advertises two X25519 public keys: one to encrypt shares, one for masks.
    case advertiseKeys = "advertise keys"
    /// Each phone sends its neighbours encrypted Shamir shares of its self-mask seed and mask key.
    case shareKeys = "share keys"
    /// Each phone sends its input plus its self mask and pairwise masks, modulo 2^m.
    case maskedInput = "masked input"
    /// Survivors reveal self-mask shares of phones that sent input and mask-key shares of those
    /// that dropped after sharing; the server removes the masks from the sum.
    case unmask

    /// Position in the protocol.
    public var ordinal: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (a: Self, b: Self) -> Bool { a.ordinal < b.ordinal }
}
