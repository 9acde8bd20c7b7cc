internal import CZlib
package import FederatedCore
package import FederationProtocol

/// The little-endian writer of the server's binary formats (model downloads, n-gram
/// updates, checkpoints): FederatedCore's, into a growing array.
package typealias FrameWriter = ByteWriter<[UInt8]>

/// The reader of the server's binary formats: FederatedCore's, whose failures are protocol
/// violations naming what the bytes are.
package typealias FrameReader = ByteReader<[UInt8], FederationError>

extension ByteReader where Bytes == [UInt8], Failure == FederationError {
    /// A reader of `bytes`; `what` names them in error messages (`"model download"`).
    package init(_ bytes: [UInt8], what: String) {
        self.init(bytes) { problem in FederationError(.protocolViolation, Self.message(for: problem, what: what)) }
    }

    private static func message(for problem: ByteReadProblem, what: String) -> String {
        switch problem {
        case .truncated(let needed, let offset, let remaining):
            "\(what) is truncated: needs \(needed) more bytes at offset \(offset), has \(remaining)"
        case .truncatedValues(let count, _, let offset, let remaining):
            "\(what) is truncated: \(count) floats declared at offset \(offset), \(remaining) bytes left"
        case .nonFinite(let index):
            "\(what): value \(index) is not finite"
        }
    }

    /// Checks that the last four bytes are the CRC-32 of everything before them.
    package static func verifyCRC(_ bytes: [UInt8], what: String) throws(FederationError) {
        guard bytes.count >= 4 else {
            throw FederationError(.protocolViolation, "\(what) is truncated: \(bytes.count) bytes")
        }
        let body = bytes[..<(bytes.count - 4)]
        let stored = try FrameReader(bytes, what: what).integer(UInt32.self, at: bytes.count - 4)
        guard stored == CRC32.checksum(body) else {
            throw FederationError(.protocolViolation, "\(what): CRC-32 mismatch (damaged or truncated in transit)")
        }
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
