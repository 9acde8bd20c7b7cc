import CZlib
import Foundation

/// A scratch folder for one test, removed when the value is released.
final class TemporaryFolder {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "kbd-sim-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = path + "/" + name
        FileManager.default.createFile(atPath: file, contents: Data(bytes))
        return file
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }
}

/// A one-member zip archive, deflated with system zlib (or stored), for reader tests.
func makeZip(name: String, contents: [UInt8], deflated: Bool = true) -> [UInt8] {
    var payload = contents
    if deflated {
        var stream = z_stream()
        deflateInit2_(
            &stream, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(contents.count))) + 16)
        let produced: Int = contents.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                deflate(&stream, Z_FINISH)
                return dst.count - Int(stream.avail_out)
            }
        }
        deflateEnd(&stream)
        payload = Array(out.prefix(produced))
    }
    let crc = contents.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }
    let nameBytes = Array(name.utf8)
    let method = deflated ? 8 : 0
    var zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + u16(20) + u16(0) + u16(method) + u16(0) + u16(0)
    zip +=
        u32(crc) + u32(UInt32(payload.count)) + u32(UInt32(contents.count)) + u16(nameBytes.count) + u16(0) + nameBytes
    zip += payload
    let directoryOffset = zip.count
    var directory: [UInt8] = [0x50, 0x4B, 0x01, 0x02] + u16(20) + u16(20) + u16(0) + u16(method) + u16(0) + u16(0)
    directory += u32(crc) + u32(UInt32(payload.count)) + u32(UInt32(contents.count)) + u16(nameBytes.count)
    directory += u16(0) + u16(0) + u16(0) + u16(0) + u32(0) + u32(0) + nameBytes
    zip += directory
    zip +=
        [0x50, 0x4B, 0x05, 0x06] + u16(0) + u16(0) + u16(1) + u16(1) + u32(UInt32(directory.count))
        + u32(UInt32(directoryOffset)) + u16(0)
    return zip
}

/// NUS SMS-shaped XML with invented messages.
func nusXML(_ messages: [(user: String, text: String)]) -> String {
    var xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><smsCorpus date=\"2015.03.09\" version=\"1.2\">\n"
    for (i, m) in messages.enumerated() {
        xml +=
            "<message id=\"\(i)\"><text>\(m.text)</text><source><srcNumber>1</srcNumber><userProfile><userID>\(m.user)</userID><age>unknown</age></userProfile></source><messageProfile language=\"en\"/></message>\n"
    }
    return xml + "</smsCorpus>\n"
}

/// The shared corpora folder beside the repository, if present.
func sharedCorpus(_ relative: String) -> String? {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let path = repo.deletingLastPathComponent().appendingPathComponent("shared/corpora/" + relative).path
    return FileManager.default.fileExists(atPath: path) ? path : nil
}
