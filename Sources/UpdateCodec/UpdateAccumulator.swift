/// The server's running weighted sum of decoded updates, built without a per-update vector.
///
/// Each ``accumulate(_:weight:)-(UnsafeRawBufferPointer,_)`` streams one message: inflate into
/// a fixed staging buffer, dequantize into a fixed window, undo the rotation one block at a
/// time (blocks are independent, see ``CodecScheme/rotationBlock``), then
/// `weightedSum[i] += weight · value[i]`. The window (≤ one rotation block, at most 4 MiB) and
/// the staging buffer (128 KiB) belong to the accumulator and are reused for every update.
///
/// A message is applied all or nothing: a first pass inflates and validates every scale and
/// value without touching the sum; only a message that passes is applied in a second pass.
/// This costs a second inflate per update, which the measured throughput includes.
public struct UpdateAccumulator: Sendable {
    /// The parameter count every update must have.
    public let parameterCount: Int
    /// The decoder (and its limits) used for every message; it expects ``parameterCount`` and
    /// the layout hash given at creation.
    public let decoder: UpdateDecoder
    /// Σ weight · update, in strict arrival order (bit-reproducible for a fixed order).
    public private(set) var weightedSum: ContiguousArray<Float>
    /// Σ weight, in Double.
    public private(set) var totalWeight: Double = 0
    /// How many updates were applied.
    public private(set) var updateCount = 0
    private var window: ContiguousArray<Float> = []
    private var staging: ContiguousArray<UInt8>

    /// Creates an empty accumulator for updates of `parameterCount` values for `layoutHash`.
    public init(parameterCount: Int, layoutHash: UInt64, limits: DecodeLimits = DecodeLimits()) {
        precondition(parameterCount >= 0, "parameter count must be >= 0")
        self.parameterCount = parameterCount
        decoder = UpdateDecoder(limits: limits, expectedLayoutHash: layoutHash, expectedParameterCount: parameterCount)
        weightedSum = ContiguousArray(repeating: 0, count: parameterCount)
        staging = ContiguousArray(repeating: 0, count: PayloadDecoder.stagingBytes)
    }

    /// Validates `message` and adds `weight ×` its delta to ``weightedSum``.
    ///
    /// - Parameters:
    ///   - message: An encoded update from an untrusted device.
    ///   - weight: Finite and ≥ 0; nil uses the header's example count (FedAvg).
    /// - Returns: The message's header.
    /// - Throws: ``UpdateCodecError``; the accumulator is then unchanged.
    @discardableResult
    public mutating func accumulate(_ message: UnsafeRawBufferPointer, weight: Float? = nil) throws(UpdateCodecError)
        -> UpdateHeader
    {
        let header = try decoder.readHeader(message)
        let w = weight ?? Float(header.metadata.exampleCount)
        precondition(w.isFinite && w >= 0, "weight must be finite and >= 0")
        let needed = PayloadDecoder.windowLength(for: header)
        if window.count < needed { window = ContiguousArray(repeating: 0, count: needed) }
        // Move the buffers out of self so they can be borrowed mutably side by side.
        var sum = weightedSum
        var win = window
        var stage = staging
        weightedSum = []
        window = []
        staging = []
        defer {
            weightedSum = sum
            window = win
            staging = stage
        }
        let limits = decoder.limits
        try win.withUnsafeMutableBufferPointer { win in
            stage.withUnsafeMutableBytes { stage in
                sum.withUnsafeMutableBufferPointer { sum in
                    Result { () throws(UpdateCodecError) in
                        let window = UnsafeMutableBufferPointer(rebasing: win[0..<needed])
                        try PayloadDecoder.run(
                            header: header, message: message, limits: limits, checkOnly: true, window: window,
                            staging: stage, deliver: { _, _ in })
                        try PayloadDecoder.run(
                            header: header, message: message, limits: limits, checkOnly: false, window: window,
                            staging: stage
                        ) { offset, values in
                            Self.addProduct(w, values, into: sum.baseAddress! + offset)
                        }
                    }
                }
            }
        }.get()
        totalWeight += Double(w)
        updateCount += 1
        return header
    }

    /// Accumulates a message held in an array; see ``accumulate(_:weight:)-(UnsafeRawBufferPointer,_)``.
    @discardableResult
    public mutating func accumulate(_ message: [UInt8], weight: Float? = nil) throws(UpdateCodecError) -> UpdateHeader {
        try message.withUnsafeBytes { bytes in
            Result { () throws(UpdateCodecError) in try accumulate(bytes, weight: weight) }
        }.get()
    }

    /// The weighted mean Σ w·u / Σ w, or all zeros when nothing was accumulated.
    public func weightedMean() -> ContiguousArray<Float> {
        guard totalWeight > 0 else { return ContiguousArray(repeating: 0, count: parameterCount) }
        let scale = Float(1 / totalWeight)
        return ContiguousArray(weightedSum.lazy.map { $0 * scale })
    }

    /// Clears the sum for the next round, keeping the buffers.
    public mutating func reset() {
        for i in weightedSum.indices { weightedSum[i] = 0 }
        totalWeight = 0
        updateCount = 0
    }

    /// sum[i] += w · x[i], 16 lanes at a time.
    @inline(__always)
    private static func addProduct(_ w: Float, _ x: UnsafeBufferPointer<Float>, into sum: UnsafeMutablePointer<Float>) {
        let n = x.count
        let src = UnsafeRawPointer(x.baseAddress!)
        let dst = UnsafeMutableRawPointer(sum)
        var i = 0
        while i + 16 <= n {
            let a = dst.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let b = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            dst.storeBytes(of: a.addingProduct(b, w), toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n {
            sum[i] = sum[i].addingProduct(x[i], w)
            i += 1
        }
    }
}
