import FederatedCore
import Federation
import FederationProtocol

/// The server's state after a round, as stored in the run store's checkpoint table
/// (`KBDCKPT1`): enough to continue the run bit for bit.
///
///     "KBDCKPT1", version u16, kind u8 (0 neural, 1 n-gram), reserved u8,
///     round u32, virtual time i64, the model kind's body (``GlobalModel/writeCheckpoint(to:round:)``),
///     CRC-32
enum ServerCheckpoint {
    static let format = "kbdsim-server-checkpoint-v1"
    static let magic: [UInt8] = Array("KBDCKPT1".utf8)

    static func encode(_ model: any GlobalModel, round: Int, virtualTime: Int) -> [UInt8] {
        var w = FrameWriter()
        w.append(magic)
        w.u16(1)
        w.u8(model.checkpointKind)
        w.u8(0)
        w.u32(UInt32(round))
        w.i64(Int64(virtualTime))
        model.writeCheckpoint(to: &w, round: round)
        w.sealWithCRC()
        return w.bytes
    }

    /// Restores a checkpoint into `fresh` (a newly initialised model of the same run, which
    /// supplies the architecture and the aggregation stages).
    static func decode(_ bytes: [UInt8], into fresh: any GlobalModel) throws -> (
        model: any GlobalModel, round: Int, virtualTime: Int
    ) {
        let what = "checkpoint"
        do {
            try FrameReader.verifyCRC(bytes, what: what)
            var r = FrameReader(Array(bytes.dropLast(4)), what: what)
            guard try r.raw(8) == magic, try r.u16() == 1 else {
                throw FederationError(.badCheckpoint, "not a kbd-sim server checkpoint (magic or version)")
            }
            let kind = try r.u8()
            _ = try r.u8()
            let round = Int(try r.u32())
            let time = Int(try r.i64())
            guard kind == fresh.checkpointKind else {
                throw FederationError(.badCheckpoint, "the checkpoint holds a different kind of model than the run")
            }
            return (try fresh.restoringCheckpoint(from: &r), round, time)
        } catch let error as FederationError where error.code == .protocolViolation {
            throw FederationError(.badCheckpoint, error.message, cause: error)
        }
    }
}
