public import Foundation
public import LanguageModelTypes

/// The kbd-sim neural model file, version 1 (all integers little-endian):
///
/// | bytes | content |
/// | --- | --- |
/// | 8 | magic `KBDSLSTM` |
/// | 4 | format version (1) |
/// | 4 | length `L` of the config JSON |
/// | L | ``ModelConfig`` as JSON |
/// | 8 | layout hash |
/// | 8 | parameter count `n` |
/// | 4n | parameters, Float32 LE, layout order |
/// | 8 | checksum: FNV-1a 64 over the payload's 64-bit LE words (a trailing 4 bytes padded with 0) |
extension LSTMLanguageModel {
    static let fileMagic: [UInt8] = Array("KBDSLSTM".utf8)
    /// The model file format version this build writes and reads.
    public static let fileFormatVersion: UInt32 = 1

    /// The model as a versioned binary file.
    public func serialized() -> Data {
        var data = Data()
        let json = config.encodedJSON()
        data.reserveCapacity(40 + json.count + parameters.count * 4)
        data.append(contentsOf: Self.fileMagic)
        data.appendLE(Self.fileFormatVersion)
        data.appendLE(UInt32(json.count))
        data.append(json)
        data.appendLE(layout.layoutHash)
        data.appendLE(UInt64(parameters.count))
        parameters.withUnsafeBufferPointer { buf in
            // Float32 bit patterns, little-endian on every platform Swift runs on here.
            data.append(
                UnsafeBufferPointer(
                    start: UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: UInt8.self), count: buf.count * 4)
            )
        }
        data.appendLE(Self.checksum(parameters))
        return data
    }

    /// Writes ``serialized()`` to a file, atomically.
    ///
    /// - Throws: ``NeuralModelError`` (`io`).
    public func write(to url: URL) throws(NeuralModelError) {
        do { try serialized().write(to: url, options: .atomic) } catch {
            throw NeuralModelError(.io, "cannot write model file", path: url.path, cause: error)
        }
    }

    /// Reads a model file.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - expectedLayoutHash: if given, the file's model shape must match it.
    /// - Throws: ``NeuralModelError``: `io`, `badFormat` (magic, version), `truncatedFile`,
    ///   `invalidConfig`, `shapeMismatch`, `checksumMismatch` or `nonFiniteWeights`.
    public init(contentsOf url: URL, expectedLayoutHash: UInt64? = nil) throws(NeuralModelError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NeuralModelError(.io, "cannot read model file", path: url.path, cause: error)
        }
        do { try self.init(serialized: data, expectedLayoutHash: expectedLayoutHash) } catch {
            var e = error
            e.path = url.path
            throw e
        }
    }

    /// Decodes ``serialized()`` bytes; see ``init(contentsOf:expectedLayoutHash:)``.
    public init(serialized data: Data, expectedLayoutHash: UInt64? = nil) throws(NeuralModelError) {
        let bytes = [UInt8](data)
        var at = 0
        func need(_ n: Int, _ what: String) throws(NeuralModelError) {
            if bytes.count - at < n {
                throw NeuralModelError(
                    .truncatedFile, "file ends at byte \(bytes.count) inside the \(what) (needs \(at + n))")
            }
        }
        func readU32() -> UInt32 {
            defer { at += 4 }
            return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
        }
        func readU64() -> UInt64 {
            defer { at += 8 }
            return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
        }
        try need(8, "magic")
        guard Array(bytes[0..<8]) == Self.fileMagic else {
            throw NeuralModelError(.badFormat, "not a kbd-sim LSTM model file (bad magic)")
        }
        at = 8
        try need(8, "header")
        let version = readU32()
        guard version == Self.fileFormatVersion else {
            throw NeuralModelError(
                .badFormat, "model file version \(version); this build reads version \(Self.fileFormatVersion)")
        }
        let jsonLength = Int(readU32())
        try need(jsonLength, "config")
        let config = try ModelConfig.decode(json: Data(bytes[at..<(at + jsonLength)]))
        at += jsonLength
        try need(16, "header")
        let storedHash = readU64()
        let count = readU64()
        let layout = ParameterLayout(config: config)
        guard storedHash == layout.layoutHash, count == UInt64(layout.parameterCount) else {
            throw NeuralModelError(.badFormat, "header layout hash or parameter count does not match its config")
        }
        if let expectedLayoutHash, expectedLayoutHash != storedHash {
            throw NeuralModelError(
                .shapeMismatch,
                "model shape \(String(storedHash, radix: 16)) differs from the expected \(String(expectedLayoutHash, radix: 16))"
            )
        }
        try need(Int(count) * 4 + 8, "parameters")
        var parameters = ContiguousArray<Float>(repeating: 0, count: Int(count))
        parameters.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[at..<(at + Int(count) * 4)]))
            }
        }
        at += Int(count) * 4
        let storedChecksum = readU64()
        guard storedChecksum == Self.checksum(parameters) else {
            throw NeuralModelError(.checksumMismatch, "parameter checksum does not match")
        }
        try self.init(config: config, parameters: parameters)
    }

    /// FNV-1a 64 over the parameters' 64-bit little-endian words.
    static func checksum(_ p: ContiguousArray<Float>) -> UInt64 {
        p.withUnsafeBytes { raw in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            let words = raw.count / 8
            for i in 0..<words {
                hash ^= UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                hash = hash &* 0x0000_0100_0000_01b3
            }
            if raw.count % 8 != 0 {
                var tail: UInt64 = 0
                for (k, b) in raw[(words * 8)...].enumerated() { tail |= UInt64(b) << (8 * k) }
                hash ^= tail
                hash = hash &* 0x0000_0100_0000_01b3
            }
            return hash
        }
    }
}

extension Data {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
