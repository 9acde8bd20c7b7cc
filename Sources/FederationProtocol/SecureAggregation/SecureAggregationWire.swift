import FederatedCore
public import SecureAggregation

/// One stage of secure aggregation as the HTTP routes name it (`…/secagg/{stage}/…`).
public enum SecureAggregationRoute: String, Sendable, CaseIterable, Codable {
    case advertiseKeys = "advertise-keys"
    case shareKeys = "share-keys"
    case maskedInput = "masked-input"
    case unmask
    /// The plain comparison (``SecureAggregationSettings/Summation/plain``).
    case plainInput = "plain-input"
}

/// One phone's message of one secure-aggregation stage, as it travels alone: over HTTP each
/// phone sends its own, with its own device credential, and the server checks it before it
/// reaches the round's state machine.
public enum SecureAggregationInbound: Sendable, Equatable {
    case advertiseKeys(AdvertiseKeysMessage)
    case shareKeys(ShareKeysMessage)
    /// A masked input with the phone's token count (public, for reporting).
    case maskedInput(MaskedInputMessage, tokens: Int)
    case unmask(UnmaskMessage)
    case plainInput(PlainQuantizedInput)

    /// The sender's index in the round's cohort.
    public var phone: Int {
        switch self {
        case .advertiseKeys(let m): m.phone
        case .shareKeys(let m): m.phone
        case .maskedInput(let m, _): m.phone
        case .unmask(let m): m.phone
        case .plainInput(let input): input.phone
        }
    }

    /// The stage the message belongs to.
    public var route: SecureAggregationRoute {
        switch self {
        case .advertiseKeys: .advertiseKeys
        case .shareKeys: .shareKeys
        case .maskedInput: .maskedInput
        case .unmask: .unmask
        case .plainInput: .plainInput
        }
    }
}

/// The binary encoding of secure aggregation's messages over HTTP (`application/x-kbd-secagg`).
///
/// Every body starts with the magic `KSA1` and a kind byte, then the message's fields in
/// little-endian order: integers at fixed width, byte strings and lists as a `u32` count and
/// their elements. The decoder is hardened like the update decoder: every count is checked
/// against the bytes that remain before anything is allocated, every length against the
/// protocol's sizes, trailing bytes are refused, and a failure names the message and the
/// byte offset, never a value.
public enum SecureAggregationWire {
    /// The body's media type.
    public static let contentType = "application/x-kbd-secagg"
    /// `KSA1`.
    static let magic: [UInt8] = Array("KSA1".utf8)

    /// What a body holds (its kind byte).
    enum Kind: UInt8 {
        case advertiseKeys = 1
        case shareKeys = 2
        case maskedInput = 3
        case unmask = 4
        case plainInput = 5
        case neighbourKeys = 11
        case forwardedShares = 12
        case unmaskRequests = 13
        case outcome = 14
    }

    /// The largest byte string a field may hold (a key is 32 bytes, a sealed share about 120).
    static let maximumFieldBytes = 4_096
    /// The most Shamir values a share may hold.
    static let maximumShareValues = 64

    /// A body that does not decode: which message, where, and what was wrong.
    public struct DecodingFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The message being read (`share-keys`, `unmask requests`, …).
        public var message: String
        /// The byte offset the problem was found at.
        public var offset: Int
        /// What was wrong.
        public var problem: String

        public var description: String {
            "the \(message) body is not a valid KSA1 message: \(problem) at byte \(offset)"
        }
    }

    // MARK: - A phone's message

    /// The body of `message`.
    public static func encode(_ message: SecureAggregationInbound) -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.append(magic)
        switch message {
        case .advertiseKeys(let m):
            w.u8(Kind.advertiseKeys.rawValue)
            write(m, to: &w)
        case .shareKeys(let m):
            w.u8(Kind.shareKeys.rawValue)
            w.u64(m.round)
            w.u32(UInt32(m.phone))
            field(m.selfMaskCommitment, to: &w)
            w.u32(UInt32(m.shares.count))
            for s in m.shares { write(s, to: &w) }
        case .maskedInput(let m, let tokens):
            w = ByteWriter(capacity: 40 + m.packed.count)
            w.append(magic)
            w.u8(Kind.maskedInput.rawValue)
            w.u64(m.round)
            w.u32(UInt32(m.phone))
            w.u64(UInt64(m.count))
            w.u64(UInt64(tokens))
            w.u32(UInt32(m.packed.count))
            w.append(m.packed)
        case .unmask(let m):
            w.u8(Kind.unmask.rawValue)
            w.u64(m.round)
            w.u32(UInt32(m.phone))
            for list in [m.selfMaskShares, m.maskKeyShares] {
                w.u32(UInt32(list.count))
                for r in list {
                    w.u32(UInt32(r.owner))
                    write(r.share, to: &w)
                }
            }
        case .plainInput(let input):
            w = ByteWriter(capacity: 40 + input.codes.count + 4 * (input.ringElements?.count ?? 0))
            w.append(magic)
            w.u8(Kind.plainInput.rawValue)
            w.u32(UInt32(input.phone))
            w.u64(UInt64(input.tokens))
            w.u32(UInt32(input.codes.count))
            w.append(input.codes)
            // Distributed DP's ring elements (absent for codes).
            if let words = input.ringElements {
                w.u8(1)
                w.u32(UInt32(words.count))
                w.integers(words)
            } else {
                w.u8(0)
            }
        }
        return w.bytes
    }

    /// Decodes a phone's message of `route`.
    ///
    /// - Throws: ``DecodingFailure`` for a body of another stage, a damaged or truncated
    ///   body, a count larger than the body could hold, or trailing bytes.
    public static func decodeInbound(_ bytes: [UInt8], route: SecureAggregationRoute) throws(DecodingFailure)
        -> SecureAggregationInbound
    {
        var r = try reader(bytes, route.rawValue)
        let kind: Kind =
            switch route {
            case .advertiseKeys: .advertiseKeys
            case .shareKeys: .shareKeys
            case .maskedInput: .maskedInput
            case .unmask: .unmask
            case .plainInput: .plainInput
            }
        try r.expect(kind)
        let message: SecureAggregationInbound
        switch route {
        case .advertiseKeys:
            message = .advertiseKeys(try r.advertisement())
        case .shareKeys:
            let round = try r.u64()
            let phone = try r.index()
            let commitment = try r.field()
            let count = try r.count(minimumElementBytes: 12)
            var shares: [EncryptedShare] = []
            shares.reserveCapacity(count)
            for _ in 0..<count { shares.append(try r.envelope()) }
            message = .shareKeys(
                ShareKeysMessage(round: round, phone: phone, selfMaskCommitment: commitment, shares: shares))
        case .maskedInput:
            let round = try r.u64()
            let phone = try r.index()
            let count = try r.length()
            let tokens = try r.length()
            let packedCount = try r.count(minimumElementBytes: 1)
            let packed = try r.raw(packedCount)
            message = .maskedInput(
                MaskedInputMessage(round: round, phone: phone, count: count, packed: packed), tokens: tokens)
        case .unmask:
            let round = try r.u64()
            let phone = try r.index()
            var lists: [[RevealedShare]] = []
            for _ in 0..<2 {
                let count = try r.count(minimumElementBytes: 12)
                var list: [RevealedShare] = []
                list.reserveCapacity(count)
                for _ in 0..<count {
                    let owner = try r.index()
                    list.append(RevealedShare(owner: owner, share: try r.share()))
                }
                lists.append(list)
            }
            message = .unmask(
                UnmaskMessage(round: round, phone: phone, selfMaskShares: lists[0], maskKeyShares: lists[1]))
        case .plainInput:
            let phone = try r.index()
            let tokens = try r.length()
            let count = try r.count(minimumElementBytes: 1)
            let codes = try r.raw(count)
            var words: [UInt32]?
            switch try r.u8() {
            case 0: break
            case 1: words = try r.words()
            default: throw r.failure("an unknown ring-elements flag")
            }
            message = .plainInput(PlainQuantizedInput(phone: phone, codes: codes, tokens: tokens, ringElements: words))
        }
        try r.finish()
        return message
    }

    // MARK: - The server's answers

    /// The body of the server's answers at the close of a stage: the reply's bookkeeping
    /// (refused messages, server time, abandonment) and one answer per phone still in the round.
    public static func encode(_ reply: SecureAggregationReply<[NeighbourKeysMessage]>) -> [UInt8] {
        encodeReply(reply, kind: .neighbourKeys) { answers, w in
            w.u32(UInt32(answers.count))
            for a in answers {
                w.u64(a.round)
                w.u32(UInt32(a.phone))
                w.u32(UInt32(a.keys.count))
                for k in a.keys { write(k, to: &w) }
            }
        }
    }

    /// See ``encode(_:)-(SecureAggregationReply<[NeighbourKeysMessage]>)``.
    public static func encode(_ reply: SecureAggregationReply<[ForwardedSharesMessage]>) -> [UInt8] {
        encodeReply(reply, kind: .forwardedShares) { answers, w in
            w.u32(UInt32(answers.count))
            for a in answers {
                w.u64(a.round)
                w.u32(UInt32(a.phone))
                w.u32(UInt32(a.shares.count))
                for s in a.shares { write(s, to: &w) }
            }
        }
    }

    /// See ``encode(_:)-(SecureAggregationReply<[NeighbourKeysMessage]>)``.
    public static func encode(_ reply: SecureAggregationReply<[UnmaskRequestMessage]>) -> [UInt8] {
        encodeReply(reply, kind: .unmaskRequests) { answers, w in
            w.u32(UInt32(answers.count))
            for a in answers {
                w.u64(a.round)
                w.u32(UInt32(a.phone))
                for list in [a.survivors, a.dropped] {
                    w.u32(UInt32(list.count))
                    for p in list { w.u32(UInt32(p)) }
                }
            }
        }
    }

    /// See ``encode(_:)-(SecureAggregationReply<[NeighbourKeysMessage]>)``.
    public static func encode(_ reply: SecureAggregationReply<SecureAggregationOutcome>) -> [UInt8] {
        encodeReply(reply, kind: .outcome) { outcome, w in
            w.u32(UInt32(outcome.recovered))
            w.u32(UInt32(outcome.contributors.count))
            for p in outcome.contributors { w.u32(UInt32(p)) }
        }
    }

    /// Decodes the answers to *advertise keys*.
    public static func decodeNeighbourKeys(_ bytes: [UInt8]) throws(DecodingFailure)
        -> SecureAggregationReply<[NeighbourKeysMessage]>
    {
        try decodeReply(bytes, kind: .neighbourKeys, "neighbour keys") { r throws(DecodingFailure) in
            let count = try r.count(minimumElementBytes: 16)
            var answers: [NeighbourKeysMessage] = []
            answers.reserveCapacity(count)
            for _ in 0..<count {
                let round = try r.u64()
                let phone = try r.index()
                let n = try r.count(minimumElementBytes: 20)
                var keys: [AdvertiseKeysMessage] = []
                keys.reserveCapacity(n)
                for _ in 0..<n { keys.append(try r.advertisement()) }
                answers.append(NeighbourKeysMessage(round: round, phone: phone, keys: keys))
            }
            return answers
        }
    }

    /// Decodes the answers to *share keys*.
    public static func decodeForwardedShares(_ bytes: [UInt8]) throws(DecodingFailure)
        -> SecureAggregationReply<[ForwardedSharesMessage]>
    {
        try decodeReply(bytes, kind: .forwardedShares, "forwarded shares") { r throws(DecodingFailure) in
            let count = try r.count(minimumElementBytes: 16)
            var answers: [ForwardedSharesMessage] = []
            answers.reserveCapacity(count)
            for _ in 0..<count {
                let round = try r.u64()
                let phone = try r.index()
                let n = try r.count(minimumElementBytes: 12)
                var shares: [EncryptedShare] = []
                shares.reserveCapacity(n)
                for _ in 0..<n { shares.append(try r.envelope()) }
                answers.append(ForwardedSharesMessage(round: round, phone: phone, shares: shares))
            }
            return answers
        }
    }

    /// Decodes the answers to *masked input*.
    public static func decodeUnmaskRequests(_ bytes: [UInt8]) throws(DecodingFailure)
        -> SecureAggregationReply<[UnmaskRequestMessage]>
    {
        try decodeReply(bytes, kind: .unmaskRequests, "unmask requests") { r throws(DecodingFailure) in
            let count = try r.count(minimumElementBytes: 20)
            var answers: [UnmaskRequestMessage] = []
            answers.reserveCapacity(count)
            for _ in 0..<count {
                let round = try r.u64()
                let phone = try r.index()
                let survivors = try r.indices()
                let dropped = try r.indices()
                answers.append(UnmaskRequestMessage(round: round, phone: phone, survivors: survivors, dropped: dropped))
            }
            return answers
        }
    }

    /// Decodes the outcome of *unmask* (or of the plain comparison).
    public static func decodeOutcome(_ bytes: [UInt8]) throws(DecodingFailure)
        -> SecureAggregationReply<SecureAggregationOutcome>
    {
        try decodeReply(bytes, kind: .outcome, "outcome") { r throws(DecodingFailure) in
            let recovered = try r.index()
            return SecureAggregationOutcome(contributors: try r.indices(), recovered: recovered)
        }
    }

    // MARK: - Plumbing

    private static func encodeReply<Answer>(
        _ reply: SecureAggregationReply<Answer>, kind: Kind, _ body: (Answer, inout ByteWriter<[UInt8]>) -> Void
    ) -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.append(magic)
        w.u8(kind.rawValue)
        w.u32(UInt32(reply.refused))
        w.u64(reply.serverMilliseconds.bitPattern)
        if let abandonment = reply.abandonment {
            w.u8(2)
            field(Array(abandonment.utf8), to: &w)
        } else if let answer = reply.answer {
            w.u8(1)
            body(answer, &w)
        } else {
            w.u8(0)
        }
        return w.bytes
    }

    private static func decodeReply<Answer>(
        _ bytes: [UInt8], kind: Kind, _ name: String,
        _ body: (inout WireReader) throws(DecodingFailure) -> Answer
    ) throws(DecodingFailure) -> SecureAggregationReply<Answer> {
        var r = try reader(bytes, name)
        try r.expect(kind)
        let refused = try r.index()
        let milliseconds = Double(bitPattern: try r.u64())
        var reply = SecureAggregationReply<Answer>(
            answer: nil, refused: refused, serverMilliseconds: milliseconds.isFinite ? milliseconds : 0)
        switch try r.u8() {
        case 0: break
        case 1: reply.answer = try body(&r)
        case 2: reply.abandonment = String(decoding: try r.field(), as: UTF8.self)
        default: throw r.failure("an unknown reply state")
        }
        try r.finish()
        return reply
    }

    private static func reader(_ bytes: [UInt8], _ name: String) throws(DecodingFailure) -> WireReader {
        guard bytes.count >= 5, Array(bytes.prefix(4)) == magic else {
            throw DecodingFailure(message: name, offset: 0, problem: "it does not start with KSA1")
        }
        return WireReader(bytes: bytes, name: name)
    }

    private static func field(_ bytes: [UInt8], to w: inout ByteWriter<[UInt8]>) {
        w.u32(UInt32(bytes.count))
        w.append(bytes)
    }

    private static func write(_ m: AdvertiseKeysMessage, to w: inout ByteWriter<[UInt8]>) {
        w.u64(m.round)
        w.u32(UInt32(m.phone))
        field(m.encryptionKey, to: &w)
        field(m.maskKey, to: &w)
    }

    private static func write(_ s: EncryptedShare, to w: inout ByteWriter<[UInt8]>) {
        w.u32(UInt32(s.sender))
        w.u32(UInt32(s.recipient))
        field(s.sealed, to: &w)
    }

    private static func write(_ s: ShamirShare, to w: inout ByteWriter<[UInt8]>) {
        w.u64(s.x)
        w.u32(UInt32(s.values.count))
        for v in s.values { w.u64(v.value) }
    }

    /// The bounds-checked reader of one body.
    struct WireReader {
        var reader: ByteReader<[UInt8], DecodingFailure>
        let name: String

        init(bytes: [UInt8], name: String) {
            self.name = name
            reader = ByteReader(bytes, offset: 4) { problem in
                switch problem {
                case .truncated(_, let offset, _), .truncatedValues(_, _, let offset, _):
                    DecodingFailure(message: name, offset: offset, problem: "it ends early")
                case .nonFinite:
                    DecodingFailure(message: name, offset: 0, problem: "a non-finite value")
                }
            }
        }

        func failure(_ problem: String) -> DecodingFailure {
            DecodingFailure(message: name, offset: reader.offset, problem: problem)
        }

        mutating func expect(_ kind: Kind) throws(DecodingFailure) {
            let byte = try reader.u8()
            guard byte == kind.rawValue else {
                reader.offset -= 1
                throw failure(
                    Kind(rawValue: byte).map { "it holds a \($0) message" } ?? "an unknown message kind \(byte)")
            }
        }

        mutating func u8() throws(DecodingFailure) -> UInt8 { try reader.u8() }
        mutating func u64() throws(DecodingFailure) -> UInt64 { try reader.u64() }
        mutating func raw(_ n: Int) throws(DecodingFailure) -> [UInt8] { try reader.raw(n) }

        /// A phone index or a small count (`u32`).
        mutating func index() throws(DecodingFailure) -> Int { Int(try reader.u32()) }

        /// A vector length or token count (`u64`), at most 2^40.
        mutating func length() throws(DecodingFailure) -> Int {
            let value = try reader.u64()
            guard value <= 1 << 40 else { throw failure("a length of \(value)") }
            return Int(value)
        }

        /// A list's count, refused when the rest of the body cannot hold that many elements.
        mutating func count(minimumElementBytes: Int) throws(DecodingFailure) -> Int {
            let n = Int(try reader.u32())
            guard n <= reader.remaining / minimumElementBytes else {
                throw failure("a count of \(n) that the \(reader.remaining) remaining bytes cannot hold")
            }
            return n
        }

        mutating func field() throws(DecodingFailure) -> [UInt8] {
            let n = Int(try reader.u32())
            guard n <= maximumFieldBytes else { throw failure("a field of \(n) bytes (at most \(maximumFieldBytes))") }
            return try reader.raw(n)
        }

        mutating func words() throws(DecodingFailure) -> [UInt32] {
            let n = try count(minimumElementBytes: 4)
            return try reader.integers(UInt32.self, count: n)
        }

        mutating func indices() throws(DecodingFailure) -> [Int] {
            let n = try count(minimumElementBytes: 4)
            return try reader.integers(UInt32.self, count: n).map { Int($0) }
        }

        mutating func advertisement() throws(DecodingFailure) -> AdvertiseKeysMessage {
            let round = try u64()
            let phone = try index()
            return AdvertiseKeysMessage(round: round, phone: phone, encryptionKey: try field(), maskKey: try field())
        }

        mutating func envelope() throws(DecodingFailure) -> EncryptedShare {
            let sender = try index()
            let recipient = try index()
            return EncryptedShare(sender: sender, recipient: recipient, sealed: try field())
        }

        mutating func share() throws(DecodingFailure) -> ShamirShare {
            let x = try u64()
            let n = Int(try reader.u32())
            guard n <= maximumShareValues else {
                throw failure("a share of \(n) values (at most \(maximumShareValues))")
            }
            let values = try reader.integers(UInt64.self, count: n)
            guard values.allSatisfy({ $0 < FieldElement.modulus }) else {
                throw failure("a share value outside GF(2^61 - 1)")
            }
            return ShamirShare(x: x, values: values.map { FieldElement($0) })
        }

        mutating func finish() throws(DecodingFailure) {
            guard reader.remaining == 0 else { throw failure("\(reader.remaining) bytes after the message") }
        }
    }
}
