import FederatedCore
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
        var body = ByteWriter(
            capacity: corpus.tokens.count * 4 + corpus.messageCount * 12 + corpus.types.count * 12)
        for n in [
            corpus.userIDs.count, corpus.types.count, corpus.tokens.count, corpus.messageCount,
            corpus.provenance.messagesRead, corpus.provenance.emptyMessages,
        ] {
            body.u64(UInt64(n))
        }
        writeStrings([corpus.provenance.format, corpus.provenance.source], to: &body)
        writeStrings(corpus.userIDs, to: &body)
        writeStrings(corpus.types, to: &body)
        body.integers(corpus.tokens)
        body.integers(corpus.messageStarts.map { Int64($0) })
        body.integers(corpus.messageUsers)
        var out = ByteWriter(capacity: 16 + body.bytes.count)
        out.append(magic)
        out.u32(formatVersion)
        out.u32(CRC32.checksum(body.bytes))
        out.append(body.bytes)
        return out.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws -> TokenizedCorpus {
        func damaged(_ what: String) -> CorpusError {
            CorpusError(.corruptCache, "corpus cache file is damaged (\(what)); delete it or pass --no-cache")
        }
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else { throw damaged("bad magic") }
        var reader = CacheReader(bytes, offset: 8) { _ in CorpusError(.corruptCache, "corpus cache file is truncated") }
        guard try reader.integer(UInt32.self) == formatVersion else { throw damaged("unknown version") }
        let storedChecksum = try reader.integer(UInt32.self)
        guard CRC32.checksum(bytes[16...]) == storedChecksum else { throw damaged("checksum mismatch") }
        var counts: [Int] = []
        for _ in 0..<6 {
            let n = try reader.integer(UInt64.self)
            guard n <= UInt64(bytes.count) * 8 else { throw damaged("implausible count") }
            counts.append(Int(n))
        }
        var corpus = TokenizedCorpus()
        let meta = try readStrings(count: 2, from: &reader)
        corpus.provenance = CorpusProvenance(
            format: meta[0], source: meta[1], messagesRead: counts[4], emptyMessages: counts[5])
        corpus.userIDs = try readStrings(count: counts[0], from: &reader)
        corpus.types = try readStrings(count: counts[1], from: &reader)
        corpus.tokens = try reader.integers(UInt32.self, count: counts[2])
        corpus.messageStarts = try reader.integers(Int64.self, count: counts[3] + 1).map { Int($0) }
        corpus.messageUsers = try reader.integers(UInt32.self, count: counts[3])
        guard reader.offset == bytes.count else { throw damaged("trailing bytes") }
        // Structural checks so a cache file can never index out of bounds.
        guard corpus.messageStarts.first == 0, corpus.messageStarts.last == corpus.tokens.count,
            zip(corpus.messageStarts, corpus.messageStarts.dropFirst()).allSatisfy({ $0 < $1 }),
            corpus.tokens.allSatisfy({ Int($0) < corpus.types.count }),
            corpus.messageUsers.allSatisfy({ Int($0) < corpus.userIDs.count })
        else { throw damaged("inconsistent arrays") }
        return corpus
    }

    private static func writeStrings(_ strings: [String], to out: inout ByteWriter<[UInt8]>) {
        for s in strings {
            out.u32(UInt32(s.utf8.count))
            out.append(Array(s.utf8))
        }
    }

    /// `count` strings, each a UInt32 byte length and that many bytes of UTF-8.
    private static func readStrings(count: Int, from reader: inout CacheReader) throws(CorpusError) -> [String] {
        var result: [String] = []
        result.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(try reader.u32())
            result.append(String(decoding: try reader.raw(length), as: UTF8.self))
        }
        return result
    }
}

/// The reader of cache files: every short read is a damaged cache.
private typealias CacheReader = ByteReader<[UInt8], CorpusError>
