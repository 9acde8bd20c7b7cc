import Aggregation
import FederationProtocol
import LanguageModels
import UpdateCodec

/// A round of weight deltas: each accepted update runs through the run's aggregation
/// stages (decode → weight → sum → …) into the round's aggregate; the close runs every
/// stage's finish (the server optimizer last) on a copy of the global weights.
final class NeuralRoundAggregation: RoundAggregation {
    private var global: NeuralGlobalModel
    private var aggregate: RoundAggregate
    private let envelope: RoundEnvelope
    /// Checks headers before the stages run (envelope, example count).
    private let headerReader: UpdateDecoder
    /// The decoded delta of the update in hand, reused for every update of the round.
    private var values: [Float]

    init(_ global: NeuralGlobalModel, round: Int, envelope: RoundEnvelope) {
        var global = global
        let count = global.weights.count
        aggregate = global.pipeline.beginRound(round, parameterCount: count)
        self.global = global
        self.envelope = envelope
        headerReader = UpdateDecoder(expectedLayoutHash: global.model.layoutHash, expectedParameterCount: count)
        values = [Float](repeating: 0, count: count)
    }

    func receive(_ bytes: [UInt8], device: UInt32, extras: UploadExtras) throws(ServerRejection) -> Int {
        let header: UpdateHeader
        do {
            header = try headerReader.readHeader(bytes)
        } catch {
            throw ServerRejection(.malformedUpdate, error.description)
        }
        guard header.metadata.exampleCount > 0 else {
            let error = UpdateCodecError(
                code: .invalidField, field: "exampleCount",
                message: "an update must report at least one training example")
            throw ServerRejection(.malformedUpdate, error.description)
        }
        try envelope.check(
            runID: header.metadata.runID, round: Int(header.metadata.round),
            device: Int(exactly: header.metadata.deviceID) ?? -1, sentAs: Int(device))
        let accepted: Result<Void, AggregationError> = values.withUnsafeMutableBufferPointer { values in
            bytes.withUnsafeBytes { message in
                Result { () throws(AggregationError) in
                    var update = ClientUpdate(device: device, message: message, values: values)
                    try global.pipeline.accept(&update, into: &aggregate)
                }
            }
        }
        if case .failure(let error) = accepted { throw ServerRejection(.malformedUpdate, error.message) }
        return Int(header.metadata.exampleCount)
    }

    var secureAggregationLength: Int? { values.count }

    func receiveQuantizedSum(_ sum: [UInt32], contributors: Int, grid: SecureAggregationGrid) throws(ServerRejection) {
        guard sum.count == values.count, contributors >= 1, aggregate.sum.count == 0 else {
            throw ServerRejection(
                .badRequest,
                "a secure sum of \(sum.count) coordinates over \(contributors) phones does not fit this round (\(values.count) parameters, \(aggregate.sum.count) updates already summed)"
            )
        }
        let quantizer = grid.quantizer
        values.withUnsafeMutableBufferPointer { out in
            sum.withUnsafeBufferPointer { quantizer.dequantizeSum($0, contributors: contributors, into: out) }
        }
        values.withUnsafeBufferPointer {
            aggregate.sum.addPartialSum($0, totalWeight: Double(contributors), count: contributors)
        }
    }

    func close() throws -> (model: any GlobalModel, reports: [StageReport]) {
        // The weights leave `global` while the pipeline (also in `global`) changes them.
        var weights = global.weights
        global.weights = []
        try global.pipeline.finish(&aggregate, weights: &weights)
        global.weights = weights
        return (global, aggregate.reports)
    }
}
