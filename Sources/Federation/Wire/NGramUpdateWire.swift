import FederatedCore
public import FederationProtocol
public import LanguageModels

/// The wire format of an n-gram count update (`KBDG`, version 1): what a device uploads when
/// the Kneser-Ney model trains federated, and what the server serves as the n-gram "model".
///
///     offset size field
///     0      4    magic "KBDG"
///     4      2    version (1)
///     6      1    order N (1…5)
///     7      1    reserved (0)
///     8      8    run id
///     16     4    round
///     20     4    device
///     24     4    vocabulary size (ids are < this)
///     28     4    example count (target tokens counted)
///     32     20   entries per order, 5 × u32 (zero beyond N)
///     52     4    raw payload length  (= 20 × total entries)
///     56     4    stored payload length (zlib; 0 when raw is 0)
///     60     …    payload: per order, keys (hi u64, lo u64), then counts (u32)
///     …      4    CRC-32 of everything before
///
/// Decoding checks every field and then the tables themselves
/// (``NGramCounts/init(order:keys:counts:vocabularyCount:)``).
public enum NGramUpdateWire {
    static let magic: [UInt8] = Array("KBDG".utf8)
    static let headerSize = 60

    /// Who sent a count table, for which round.
    public struct Envelope: Sendable, Equatable {
        public var runID: UInt64
        public var round: Int
        public var device: Int
        public var exampleCount: Int

        public init(runID: UInt64, round: Int, device: Int, exampleCount: Int) {
            self.runID = runID
            self.round = round
            self.device = device
            self.exampleCount = exampleCount
        }
    }

    /// Encodes `counts` (zlib level 6).
    public static func encode(_ counts: NGramCounts, vocabularyCount: Int, envelope: Envelope) -> [UInt8] {
        var raw = FrameWriter()
        for n in 0..<counts.order {
            for key in counts.keys[n] {
                raw.u64(key.hi)
                raw.u64(key.lo)
            }
            for c in counts.counts[n] { raw.u32(c) }
        }
        let stored = raw.bytes.isEmpty ? [] : deflate(raw.bytes)
        var w = FrameWriter(capacity: headerSize + stored.count + 4)
        w.append(magic)
        w.u16(1)
        w.u8(UInt8(counts.order))
        w.u8(0)
        w.u64(envelope.runID)
        w.u32(UInt32(envelope.round))
        w.u32(UInt32(envelope.device))
        w.u32(UInt32(vocabularyCount))
        w.u32(UInt32(clamping: envelope.exampleCount))
        for n in 0..<5 { w.u32(n < counts.order ? UInt32(counts.keys[n].count) : 0) }
        w.u32(UInt32(raw.bytes.count))
        w.u32(UInt32(stored.count))
        w.append(stored)
        w.sealWithCRC()
        return w.bytes
    }

    /// Decodes and validates an update from an untrusted device.
    ///
    /// - Parameters:
    ///   - maximumEntries: the largest total number of n-grams accepted (zip-bomb guard).
    /// - Throws: ``FederationError/Code/protocolViolation`` naming the field.
    public static func decode(
        _ bytes: [UInt8], expectedOrder: Int, vocabularyCount: Int, maximumEntries: Int = 5_000_000
    ) throws(FederationError) -> (Envelope, NGramCounts) {
        let what = "n-gram update"
        guard bytes.count >= headerSize + 4 else {
            throw FederationError(
                .protocolViolation, "\(what) is truncated: \(bytes.count) bytes, the header alone is \(headerSize + 4)")
        }
        var r = FrameReader(bytes, what: what)
        guard try r.raw(4) == magic else {
            throw FederationError(.protocolViolation, "\(what): bad magic (not a KBDG message)")
        }
        let version = try r.u16()
        guard version == 1 else {
            throw FederationError(.protocolViolation, "\(what): unsupported version \(version) (this server reads 1)")
        }
        let order = Int(try r.u8())
        guard order == expectedOrder else {
            throw FederationError(
                .protocolViolation, "\(what): order \(order) but the run trains a \(expectedOrder)-gram model")
        }
        guard try r.u8() == 0 else { throw FederationError(.protocolViolation, "\(what): reserved byte 7 is not zero") }
        let runID = try r.u64()
        let round = Int(try r.u32())
        let device = Int(try r.u32())
        let vocab = Int(try r.u32())
        guard vocab == vocabularyCount else {
            throw FederationError(
                .protocolViolation, "\(what): vocabulary size \(vocab), the run's is \(vocabularyCount)")
        }
        let examples = Int(try r.u32())
        var entries: [Int] = []
        for n in 0..<5 {
            let e = Int(try r.u32())
            guard n < order || e == 0 else {
                throw FederationError(.protocolViolation, "\(what): entries declared for order \(n + 1) > \(order)")
            }
            entries.append(e)
        }
        let total = entries.reduce(0, +)
        guard total <= maximumEntries else {
            throw FederationError(
                .protocolViolation, "\(what): \(total) n-grams exceed the server's limit of \(maximumEntries)")
        }
        let rawLength = Int(try r.u32())
        let storedLength = Int(try r.u32())
        guard rawLength == 20 * total else {
            throw FederationError(
                .protocolViolation, "\(what): raw payload length \(rawLength) is not 20 × \(total) entries")
        }
        guard bytes.count == headerSize + storedLength + 4 else {
            throw FederationError(
                .protocolViolation,
                "\(what): \(bytes.count) bytes, the header declares \(headerSize + storedLength + 4) (truncated or trailing bytes)"
            )
        }
        try FrameReader.verifyCRC(bytes, what: what)
        let raw = rawLength == 0 ? [] : try inflate(try r.raw(storedLength), rawLength: rawLength, what: what)
        var p = FrameReader(raw, what: what)
        var keys: [[NGramKey]] = []
        var counts: [[UInt32]] = []
        for n in 0..<order {
            var level: [NGramKey] = []
            level.reserveCapacity(entries[n])
            for _ in 0..<entries[n] { level.append(NGramKey(hi: try p.u64(), lo: try p.u64())) }
            var c: [UInt32] = []
            c.reserveCapacity(entries[n])
            for _ in 0..<entries[n] { c.append(try p.u32()) }
            keys.append(level)
            counts.append(c)
        }
        let table: NGramCounts
        do {
            table = try NGramCounts(order: order, keys: keys, counts: counts, vocabularyCount: vocabularyCount)
        } catch {
            throw FederationError(.protocolViolation, "\(what): \(error)", cause: error)
        }
        guard examples == table.tokenCount else {
            throw FederationError(
                .protocolViolation,
                "\(what): example count \(examples) is not the \(table.tokenCount) unigram targets counted")
        }
        return (Envelope(runID: runID, round: round, device: device, exampleCount: examples), table)
    }
}
