internal import CZlib
package import Foundation

/// An on-disk cache of tokenized corpora, so a corpus is read and tokenized once.
///
/// A cached corpus is a flat binary file: its arrays are stored as they sit in memory
/// (little-endian UInt32 type ids, Int64 offsets), so loading a million messages is one
/// read and a few copies. The file is keyed by the source's path, size and modification
/// time, the format and the tokenizer version; a damaged or stale file is ignored and
/// rebuilt, never trusted.
///
/// Layout: `KBDCORP1` magic, UInt32 version, UInt32 CRC-32 of the rest, then six UInt64
/// counts (users, types, tokens, messages, messages read, empty messages), four
/// length-prefixed string lists (format+source, users, types), the token array, the
/// message-start array and the message-user array.
package struct CorpusCache {
    package static let formatVersion: UInt32 = 1
    static let magic = Array("KBDCORP1".utf8)

    /// The folder that holds cache files.
    package let directory: String

    /// The default folder: `$KBD_SIM_CACHE_DIR`, else `$XDG_CACHE_HOME/kbd-sim`, else
    /// `~/.cache/kbd-sim`.
    package static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["KBD_SIM_CACHE_DIR"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/kbd-sim" }
        return NSHomeDirectory() + "/.cache/kbd-sim"
    }

    package init(directory: String = CorpusCache.defaultDirectory) {
        self.directory = directory
    }

    /// The cache file for a source described by `key`.
    package func fileURL(forKey key: String) -> URL {
        URL(fileURLWithPath: directory).appendingPathComponent(String(SHA256.hex(key.utf8).prefix(32)) + ".kbdcorpus")
    }

    /// The cached corpus for `key`, or nil when there is none or it is unusable.
    package func get(key: String) -> TokenizedCorpus? {
        guard let data = FileManager.default.contents(atPath: fileURL(forKey: key).path) else { return nil }
        return try? Self.decode([UInt8](data))
    }

    /// Stores `corpus` under `key`, atomically; failures are ignored (a cache is optional).
    package func put(_ corpus: TokenizedCorpus, key: String) {
        let url = fileURL(forKey: key)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = url.path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(Self.encode(corpus))) else { return }
            if rename(temporary, url.path) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
        } catch {
            return
        }
    }

    // MARK: - Encoding

    package static func encode(_ corpus: TokenizedCorpus) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(corpus.tokens.count * 4 + corpus.messageCount * 12 + corpus.types.count * 12)
        for n in [
            corpus.userIDs.count, corpus.types.count, corpus.tokens.count, corpus.messageCount,
            corpus.provenance.messagesRead, corpus.provenance.emptyMessages,
        ] {
            appendInteger(UInt64(n), to: &body)
        }
        appendStrings([corpus.provenance.format, corpus.provenance.source], to: &body)
        appendStrings(corpus.userIDs, to: &body)
        appendStrings(corpus.types, to: &body)
        corpus.tokens.withUnsafeBytes { body.append(contentsOf: $0) }
        corpus.messageStarts.map { Int64($0) }.withUnsafeBytes { body.append(contentsOf: $0) }
        corpus.messageUsers.withUnsafeBytes { body.append(contentsOf: $0) }
        var out = magic
        appendInteger(formatVersion, to: &out)
        appendInteger(checksum(body[...]), to: &out)
        out.append(contentsOf: body)
        return out
    }

    package static func decode(_ bytes: [UInt8]) throws -> TokenizedCorpus {
        func damaged(_ what: String) -> CorpusError {
            CorpusError(.corruptCache, "corpus cache file is damaged (\(what)); delete it or pass --no-cache")
        }
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else { throw damaged("bad magic") }
        var reader = ByteReader(bytes: bytes, offset: 8)
        guard try reader.integer(UInt32.self) == formatVersion else { throw damaged("unknown version") }
        let storedChecksum = try reader.integer(UInt32.self)
        guard checksum(bytes[16...]) == storedChecksum else { throw damaged("checksum mismatch") }
        var counts: [Int] = []
        for _ in 0..<6 {
            let n = try reader.integer(UInt64.self)
            guard n <= UInt64(bytes.count) * 8 else { throw damaged("implausible count") }
            counts.append(Int(n))
        }
        var corpus = TokenizedCorpus()
        let meta = try reader.strings(count: 2)
        corpus.provenance = CorpusProvenance(
            format: meta[0], source: meta[1], messagesRead: counts[4], emptyMessages: counts[5])
        corpus.userIDs = try reader.strings(count: counts[0])
        corpus.types = try reader.strings(count: counts[1])
        corpus.tokens = try reader.array(UInt32.self, count: counts[2])
        corpus.messageStarts = try reader.array(Int64.self, count: counts[3] + 1).map { Int($0) }
        corpus.messageUsers = try reader.array(UInt32.self, count: counts[3])
        guard reader.offset == bytes.count else { throw damaged("trailing bytes") }
        // Structural checks so a cache file can never index out of bounds.
        guard corpus.messageStarts.first == 0, corpus.messageStarts.last == corpus.tokens.count,
            zip(corpus.messageStarts, corpus.messageStarts.dropFirst()).allSatisfy({ $0 < $1 }),
            corpus.tokens.allSatisfy({ Int($0) < corpus.types.count }),
            corpus.messageUsers.allSatisfy({ Int($0) < corpus.userIDs.count })
        else { throw damaged("inconsistent arrays") }
        return corpus
    }

    private static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(truncatingIfNeeded: crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    private static func appendInteger<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendStrings(_ strings: [String], to out: inout [UInt8]) {
        for s in strings {
            appendInteger(UInt32(s.utf8.count), to: &out)
            out.append(contentsOf: s.utf8)
        }
    }
}

/// A bounds-checked little-endian reader over a byte array.
struct ByteReader {
    let bytes: [UInt8]
    var offset: Int

    struct OutOfBounds: Error {}

    mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else { throw CorpusError(.corruptCache, "corpus cache file is truncated") }
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + size)]))
            }
        }
        offset += size
        return T(littleEndian: value)
    }

    mutating func array<T: FixedWidthInteger>(_: T.Type, count: Int) throws -> [T] {
        let size = MemoryLayout<T>.size * count
        guard count >= 0, offset + size <= bytes.count else {
            throw CorpusError(.corruptCache, "corpus cache file is truncated")
        }
        let result = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + size)]))
            }
            initialized = count
        }
        offset += size
        return result.map { T(littleEndian: $0) }
    }

    mutating func strings(count: Int) throws -> [String] {
        var result: [String] = []
        result.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(try integer(UInt32.self))
            guard offset + length <= bytes.count else {
                throw CorpusError(.corruptCache, "corpus cache file is truncated")
            }
            result.append(String(decoding: bytes[offset..<(offset + length)], as: UTF8.self))
            offset += length
        }
        return result
    }
}
