import FederatedCore
public import FederationProtocol

/// The `KBDW` model download: run id, version, layout hash and float32 weights.
///
///     "KBDW", version u16 (1), reserved u16, run id i64, model version u32,
///     layout hash u64, weight count u32, weights f32…, CRC-32
public enum ModelDownload {
    static let magic: [UInt8] = Array("KBDW".utf8)

    /// The download of `weights` at model `version` of run `runID`.
    package static func encode(_ weights: [Float], layoutHash: UInt64, runID: Int64, version: Int) -> [UInt8] {
        var w = FrameWriter(capacity: 40 + 4 * weights.count)
        w.append(magic)
        w.u16(1)
        w.u16(0)
        w.i64(runID)
        w.u32(UInt32(version))
        w.u64(layoutHash)
        w.u32(UInt32(weights.count))
        w.floats(weights)
        w.sealWithCRC()
        return w.bytes
    }

    /// Decodes a download, checking it is for `layoutHash` and `parameterCount`.
    public static func decodeWeights(_ bytes: [UInt8], layoutHash: UInt64, parameterCount: Int) throws(FederationError)
        -> (version: Int, weights: ContiguousArray<Float>)
    {
        let what = "model download"
        try FrameReader.verifyCRC(bytes, what: what)
        var r = FrameReader(Array(bytes.dropLast(4)), what: what)
        guard try r.raw(4) == magic else {
            throw FederationError(.protocolViolation, "\(what): bad magic (not a KBDW model)")
        }
        guard try r.u16() == 1 else { throw FederationError(.protocolViolation, "\(what): unsupported version") }
        _ = try r.u16()
        _ = try r.i64()
        let version = Int(try r.u32())
        guard try r.u64() == layoutHash else {
            throw FederationError(.protocolViolation, "\(what): the model's layout does not match this client's")
        }
        let count = Int(try r.u32())
        guard count == parameterCount else {
            throw FederationError(
                .protocolViolation, "\(what): \(count) parameters, the client expects \(parameterCount)")
        }
        let weights = try r.floats(count)
        guard r.remaining == 0 else {
            throw FederationError(.protocolViolation, "\(what): \(r.remaining) trailing bytes")
        }
        return (version, ContiguousArray(weights))
    }
}
