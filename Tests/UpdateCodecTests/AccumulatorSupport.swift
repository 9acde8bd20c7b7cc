import Aggregation

@testable import UpdateCodec

/// What the server does with each update, for tests of the codec against the sum: decode
/// into a buffer reused for every update, then add it to the round's ``WeightedSum``
/// (the server's decode → weight → sum stages).
struct UpdateAccumulator {
    let decoder: UpdateDecoder
    private(set) var sum: WeightedSum
    private var scratch = DecodeScratch()
    private var values: [Float]

    init(parameterCount: Int, layoutHash: UInt64, limits: DecodeLimits = DecodeLimits()) {
        decoder = UpdateDecoder(limits: limits, expectedLayoutHash: layoutHash, expectedParameterCount: parameterCount)
        sum = WeightedSum(parameterCount: parameterCount)
        values = [Float](repeating: 0, count: parameterCount)
    }

    var weightedSum: ContiguousArray<Float> { sum.weightedSum }
    var totalWeight: Double { sum.totalWeight }
    var updateCount: Int { sum.count }
    func weightedMean() -> [Float] { sum.average() ?? [Float](repeating: 0, count: sum.parameterCount) }

    /// Decodes `message` and adds `weight ×` its delta (default: its example count).
    @discardableResult
    mutating func accumulate(_ message: [UInt8], weight: Float? = nil) throws(UpdateCodecError) -> UpdateHeader {
        let decoder = decoder
        var scratch = scratch
        let decoded: Result<UpdateHeader, UpdateCodecError> = values.withUnsafeMutableBufferPointer { out in
            message.withUnsafeBytes { bytes in
                Result { () throws(UpdateCodecError) in try decoder.decode(bytes, into: out, scratch: &scratch) }
            }
        }
        let header = try decoded.get()
        self.scratch = scratch
        sum.add(values, weight: weight ?? Float(header.metadata.exampleCount))
        return header
    }
}
