internal import CZlib
import FederatedCore

/// Just enough of the ZIP format to pull one member out of an archive with system zlib.
///
/// Reads the central directory (so data descriptors and archive comments are handled),
/// supports the stored and deflate methods, and checks each member's CRC-32 and size.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var compressedSize: Int
        var uncompressedSize: Int
        var crc32: UInt32
        var localHeaderOffset: Int
    }

    let bytes: [UInt8]
    let path: String
    private(set) var entries: [Entry] = []

    /// The largest member this reader inflates; a guard against zip bombs.
    static let maximumMemberSize = 4 << 30

    init(bytes: [UInt8], path: String) throws {
        self.bytes = bytes
        self.path = path
        entries = try readCentralDirectory()
    }

    static func looksLikeZip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04
    }

    // Header fields at offsets the callers have checked against the archive's size.
    private func u16(_ at: Int) -> UInt16 { ByteReader(bytes).integer(at: at) }
    private func u32(_ at: Int) -> UInt32 { ByteReader(bytes).integer(at: at) }

    private func readCentralDirectory() throws -> [Entry] {
        // The end-of-central-directory record sits in the last 22 + 65535 bytes.
        guard bytes.count >= 22 else {
            throw CorpusError(
                .notAZipArchive, "the file is too short to be a zip archive (\(bytes.count) bytes)", path: path)
        }
        var eocd = -1
        var i = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while i >= lowest {
            if bytes[i] == 0x50 && bytes[i + 1] == 0x4B && bytes[i + 2] == 0x05 && bytes[i + 3] == 0x06 {
                eocd = i
                break
            }
            i -= 1
        }
        guard eocd >= 0 else {
            throw CorpusError(
                .notAZipArchive,
                "no zip end-of-central-directory record found; the archive is truncated or not a zip file", path: path)
        }
        let count = Int(u16(eocd + 10))
        let directorySize = Int(u32(eocd + 12))
        var offset = Int(u32(eocd + 16))
        guard offset + directorySize <= eocd else {
            throw CorpusError(
                .corruptArchive, "the zip central directory points past the end of the file (offset \(offset))",
                path: path, location: offset)
        }
        var result: [Entry] = []
        for index in 0..<count {
            guard offset + 46 <= eocd, u32(offset) == 0x0201_4B50 else {
                throw CorpusError(
                    .corruptArchive, "zip central directory entry \(index + 1) is damaged", path: path, location: offset
                )
            }
            let nameLength = Int(u16(offset + 28))
            let extraLength = Int(u16(offset + 30))
            let commentLength = Int(u16(offset + 32))
            guard offset + 46 + nameLength <= eocd else {
                throw CorpusError(
                    .corruptArchive, "zip central directory entry \(index + 1) is truncated", path: path,
                    location: offset)
            }
            let name = String(decoding: bytes[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self)
            result.append(
                Entry(
                    name: name, method: u16(offset + 10), compressedSize: Int(u32(offset + 20)),
                    uncompressedSize: Int(u32(offset + 24)), crc32: u32(offset + 16),
                    localHeaderOffset: Int(u32(offset + 42))))
            offset += 46 + nameLength + extraLength + commentLength
        }
        return result
    }

    /// Inflates one member and checks its size and CRC-32.
    func extract(_ entry: Entry) throws -> [UInt8] {
        let local = entry.localHeaderOffset
        guard local + 30 <= bytes.count, u32(local) == 0x0403_4B50 else {
            throw CorpusError(
                .corruptArchive, "the local header of zip member '\(entry.name)' is missing or damaged", path: path,
                location: local)
        }
        let start = local + 30 + Int(u16(local + 26)) + Int(u16(local + 28))
        guard start + entry.compressedSize <= bytes.count else {
            throw CorpusError(
                .corruptArchive,
                "zip member '\(entry.name)' is truncated: \(entry.compressedSize) compressed bytes announced, \(max(0, bytes.count - start)) present",
                path: path, location: start)
        }
        guard entry.uncompressedSize <= Self.maximumMemberSize else {
            throw CorpusError(
                .corruptArchive,
                "zip member '\(entry.name)' announces \(entry.uncompressedSize) bytes, above the \(Self.maximumMemberSize)-byte limit",
                path: path)
        }
        var output: [UInt8]
        switch entry.method {
        case 0:
            output = Array(bytes[start..<(start + entry.compressedSize)])
        case 8:
            output = try inflateRaw(
                bytes[start..<(start + entry.compressedSize)], expected: entry.uncompressedSize, name: entry.name)
        default:
            throw CorpusError(
                .corruptArchive,
                "zip member '\(entry.name)' uses compression method \(entry.method); only stored (0) and deflate (8) are supported — re-zip it or unzip it and pass the file itself",
                path: path)
        }
        guard output.count == entry.uncompressedSize else {
            throw CorpusError(
                .corruptArchive,
                "zip member '\(entry.name)' inflated to \(output.count) bytes, the archive says \(entry.uncompressedSize)",
                path: path)
        }
        guard CRC32.checksum(output) == entry.crc32 else {
            throw CorpusError(
                .corruptArchive, "zip member '\(entry.name)' fails its CRC-32 check; the archive is corrupt", path: path
            )
        }
        return output
    }

    private func inflateRaw(_ input: ArraySlice<UInt8>, expected: Int, name: String) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: max(expected, 1))
        var stream = z_stream()
        var status = inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            throw CorpusError(
                .corruptArchive, "zlib could not start inflating '\(name)' (status \(status))", path: path)
        }
        defer { inflateEnd(&stream) }
        let produced: Int = input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                status = inflate(&stream, Z_FINISH)
                return dst.count - Int(stream.avail_out)
            }
        }
        guard status == Z_STREAM_END else {
            throw CorpusError(
                .corruptArchive,
                "zip member '\(name)' does not inflate cleanly (zlib status \(status)); the archive is corrupt or truncated",
                path: path)
        }
        output.removeLast(output.count - min(produced, output.count))
        return output
    }
}
