import Aggregation
import LanguageModels

/// The server's state after a round, as stored in the run store's checkpoint table
/// (`KBDCKPT1`): enough to continue the run bit for bit.
///
///     "KBDCKPT1", version u16, kind u8 (0 neural, 1 n-gram), reserved u8,
///     round u32, virtual time i64,
///     neural: weight count u32, weights f32…, state vectors u32, per vector: length u32, f32…
///     n-gram: KBDG table length u32, KBDG bytes, contributions u32, per device: id u32, day i64
///     CRC-32
enum ServerCheckpoint {
    static let format = "kbdsim-server-checkpoint-v1"
    static let magic: [UInt8] = Array("KBDCKPT1".utf8)

    static func encode(_ model: GlobalModel, round: Int, virtualTime: Int, vocabularyCount: Int) -> [UInt8] {
        var w = ByteWriter()
        w.append(magic)
        w.u16(1)
        switch model {
        case .neural(let n):
            w.u8(0)
            w.u8(0)
            w.u32(UInt32(round))
            w.i64(Int64(virtualTime))
            w.u32(UInt32(n.weights.count))
            w.floats(n.weights)
            let state = n.optimizer.stateVectors
            w.u32(UInt32(state.count))
            for v in state {
                w.u32(UInt32(v.count))
                w.floats(v)
            }
        case .ngram(let g):
            w.u8(1)
            w.u8(0)
            w.u32(UInt32(round))
            w.i64(Int64(virtualTime))
            let table = NGramUpdateWire.encode(
                g.counts, vocabularyCount: vocabularyCount,
                envelope: .init(runID: 0, round: round, device: 0, exampleCount: g.counts.tokenCount))
            w.u32(UInt32(table.count))
            w.append(table)
            w.u32(UInt32(g.contributedThroughDay.count))
            for (device, day) in g.contributedThroughDay.sorted(by: { $0.key < $1.key }) {
                w.u32(device)
                w.i64(Int64(day))
            }
        }
        w.sealWithCRC()
        return w.bytes
    }

    /// Restores a checkpoint into `fresh` (a newly initialised model of the same run, which
    /// supplies the architecture and the optimizer's kind).
    static func decode(_ bytes: [UInt8], into fresh: GlobalModel, vocabularyCount: Int) throws -> (
        model: GlobalModel, round: Int, virtualTime: Int
    ) {
        let what = "checkpoint"
        do {
            try ByteReader.verifyCRC(bytes, what: what)
            var r = ByteReader(Array(bytes.dropLast(4)), what: what)
            guard try r.raw(8) == magic, try r.u16() == 1 else {
                throw FederationError(.badCheckpoint, "not a kbd-sim server checkpoint (magic or version)")
            }
            let kind = try r.u8()
            _ = try r.u8()
            let round = Int(try r.u32())
            let time = Int(try r.i64())
            switch (kind, fresh) {
            case (0, .neural(var n)):
                let count = Int(try r.u32())
                guard count == n.weights.count else {
                    throw FederationError(
                        .badCheckpoint, "the checkpoint has \(count) weights, the run's model \(n.weights.count)")
                }
                n.weights = try r.floats(count)
                var state: [[Float]] = []
                for _ in 0..<Int(try r.u32()) { state.append(try r.floats(Int(try r.u32()))) }
                try n.optimizer.restoreState(state)
                return (.neural(n), round, time)
            case (1, .ngram(var g)):
                let table = try r.raw(Int(try r.u32()))
                g.counts = try NGramUpdateWire.decode(
                    table, expectedOrder: g.order, vocabularyCount: vocabularyCount, maximumEntries: Int(Int32.max)
                ).1
                var contributions: [UInt32: Int32] = [:]
                for _ in 0..<Int(try r.u32()) {
                    let device = try r.u32()
                    contributions[device] = Int32(truncatingIfNeeded: try r.i64())
                }
                g.contributedThroughDay = contributions
                return (.ngram(g), round, time)
            default:
                throw FederationError(.badCheckpoint, "the checkpoint holds a different kind of model than the run")
            }
        } catch let error as FederationError where error.code == .protocolViolation {
            throw FederationError(.badCheckpoint, error.message)
        }
    }
}
