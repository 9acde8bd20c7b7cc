internal import CZlib

/// Little-endian writer for the server's binary formats (model downloads, n-gram updates,
/// checkpoints).
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    /// Appends float32 values in little-endian order (a memcpy on little-endian hosts).
    mutating func floats(_ values: [Float]) {
        #if _endian(little)
            values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
            bytes.reserveCapacity(bytes.count + values.count * 4)
            for v in values { u32(v.bitPattern) }
        #endif
    }

    /// Appends the CRC-32 of everything written so far.
    mutating func sealWithCRC() { u32(crc32(bytes)) }
}

/// Little-endian reader that throws, never traps, on short input.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset = 0
    /// What the bytes are, for error messages (`"model download"`).
    let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    var remaining: Int { bytes.count - offset }

    private mutating func take(_ n: Int) throws(FederationError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else {
            throw FederationError(
                .protocolViolation, "\(what) is truncated: needs \(n) more bytes at offset \(offset), has \(remaining)")
        }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func raw(_ n: Int) throws(FederationError) -> [UInt8] { Array(try take(n)) }
    mutating func u8() throws(FederationError) -> UInt8 { try take(1).first! }
    mutating func u16() throws(FederationError) -> UInt16 { UInt16(truncatingIfNeeded: try uint(2)) }
    mutating func u32() throws(FederationError) -> UInt32 { UInt32(truncatingIfNeeded: try uint(4)) }
    mutating func u64() throws(FederationError) -> UInt64 { try uint(8) }
    mutating func i64() throws(FederationError) -> Int64 { Int64(bitPattern: try uint(8)) }

    private mutating func uint(_ n: Int) throws(FederationError) -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    /// Reads `count` float32 values, rejecting NaN and infinities.
    mutating func floats(_ count: Int) throws(FederationError) -> [Float] {
        guard count >= 0, count <= remaining / 4 else {
            throw FederationError(
                .protocolViolation,
                "\(what) is truncated: \(count) floats declared at offset \(offset), \(remaining) bytes left")
        }
        var out = [Float](repeating: 0, count: count)
        let start = offset
        let firstBad: Int? = bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let v = Float(
                        bitPattern: src.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self).littleEndian)
                    guard v.isFinite else { return i }
                    dst[i] = v
                }
                return nil
            }
        }
        if let i = firstBad { throw FederationError(.protocolViolation, "\(what): value \(i) is not finite") }
        offset += 4 * count
        return out
    }

    /// Checks that the last four bytes are the CRC-32 of everything before them.
    static func verifyCRC(_ bytes: [UInt8], what: String) throws(FederationError) {
        guard bytes.count >= 4 else {
            throw FederationError(.protocolViolation, "\(what) is truncated: \(bytes.count) bytes")
        }
        let body = Array(bytes[..<(bytes.count - 4)])
        var tail = ByteReader(Array(bytes[(bytes.count - 4)...]), what: what)
        let stored = try tail.u32()
        guard stored == crc32(body) else {
            throw FederationError(.protocolViolation, "\(what): CRC-32 mismatch (damaged or truncated in transit)")
        }
    }
}

/// CRC-32 (zlib's polynomial).
func crc32(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { UInt32(truncatingIfNeeded: crc32_z(0, $0.baseAddress, $0.count)) }
}

/// 64-bit FNV-1a.
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBufferPointer { b in
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in b { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}

/// One-shot zlib deflate.
func deflate(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
    var capacity = compressBound(UInt(bytes.count))
    var out = [UInt8](repeating: 0, count: Int(capacity))
    let rc = out.withUnsafeMutableBufferPointer { o in
        bytes.withUnsafeBufferPointer { i in compress2(o.baseAddress, &capacity, i.baseAddress, UInt(i.count), level) }
    }
    precondition(rc == Z_OK, "compress2 failed with \(rc) on a buffer sized by compressBound")
    out.removeSubrange(Int(capacity)...)
    return out
}

/// One-shot zlib inflate of a stream that must produce exactly `rawLength` bytes.
func inflate(_ bytes: [UInt8], rawLength: Int, what: String) throws(FederationError) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: rawLength)
    var produced = UInt(rawLength)
    var consumed = UInt(bytes.count)
    let rc = out.withUnsafeMutableBufferPointer { o in
        bytes.withUnsafeBufferPointer { i in uncompress2(o.baseAddress, &produced, i.baseAddress, &consumed) }
    }
    guard rc == Z_OK, Int(produced) == rawLength, Int(consumed) == bytes.count else {
        throw FederationError(
            .protocolViolation,
            "\(what): the zlib payload is corrupt or does not inflate to its declared \(rawLength) bytes (zlib code \(rc))"
        )
    }
    return out
}
