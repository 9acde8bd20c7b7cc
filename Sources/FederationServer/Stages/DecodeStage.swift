import Aggregation
import UpdateCodec

/// The chain's first stage: validates a device's encoded update and decodes its delta
/// (dequantize, undo the rotation) into the round's scratch buffer, one inflate per update
/// and no allocation once the scratch has grown.
///
/// A malformed update is refused here, before any stage has changed the round.
struct DecodeStage: AggregationStage {
    let decoder: UpdateDecoder
    private var scratch = DecodeScratch()
    var name: String { "decode" }

    /// A stage that accepts updates of `parameterCount` values for `layoutHash`.
    init(parameterCount: Int, layoutHash: UInt64, limits: DecodeLimits = DecodeLimits()) {
        decoder = UpdateDecoder(limits: limits, expectedLayoutHash: layoutHash, expectedParameterCount: parameterCount)
    }

    mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate) throws(AggregationError) {
        do {
            let header = try decoder.decode(update.message, into: update.values, scratch: &scratch)
            update.exampleCount = Int(header.metadata.exampleCount)
        } catch {
            throw AggregationError(.malformedUpdate, error.description, cause: error)
        }
    }
}
