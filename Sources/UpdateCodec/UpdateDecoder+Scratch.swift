/// Buffers one decoder reuses for every message it decodes in place: the rotation window (at
/// most one rotation block, ≤ 4 MiB) and the inflate staging buffer (128 KiB). They grow to
/// the largest window met and are never shrunk.
public struct DecodeScratch: Sendable {
    fileprivate var window: ContiguousArray<Float> = []
    fileprivate var staging = ContiguousArray<UInt8>(repeating: 0, count: PayloadDecoder.stagingBytes)

    /// Empty buffers; the window is allocated by the first decode.
    public init() {}
}

extension UpdateDecoder {
    /// Validates `message` and decodes its delta into `values`, allocating nothing once
    /// `scratch` has grown to the message's rotation block.
    ///
    /// The server's hot path: one inflate per message, straight into a buffer the caller
    /// reuses for every update of a round.
    ///
    /// - Parameters:
    ///   - message: An encoded update from an untrusted device.
    ///   - values: Exactly the header's parameter count of floats. On a throw their contents
    ///     are unspecified (partly decoded): use them only after a successful return.
    /// - Returns: The message's header.
    /// - Throws: ``UpdateCodecError`` for any malformed message.
    public func decode(
        _ message: UnsafeRawBufferPointer, into values: UnsafeMutableBufferPointer<Float>,
        scratch: inout DecodeScratch
    ) throws(UpdateCodecError) -> UpdateHeader {
        let header = try readHeader(message)
        guard values.count == header.parameterCount else {
            throw UpdateCodecError(
                code: .parameterCountMismatch, field: "parameterCount",
                message: "update has \(header.parameterCount) parameters, the buffer \(values.count)", offset: 16)
        }
        let needed = PayloadDecoder.windowLength(for: header)
        if scratch.window.count < needed { scratch.window = ContiguousArray(repeating: 0, count: needed) }
        let limits = limits
        try scratch.window.withUnsafeMutableBufferPointer { window in
            scratch.staging.withUnsafeMutableBytes { staging in
                Result { () throws(UpdateCodecError) in
                    try PayloadDecoder.run(
                        header: header, message: message, limits: limits, checkOnly: false,
                        window: UnsafeMutableBufferPointer(rebasing: window[0..<needed]), staging: staging
                    ) { offset, chunk in
                        _ = UnsafeMutableBufferPointer(rebasing: values[offset..<(offset + chunk.count)]).update(
                            fromContentsOf: chunk)
                    }
                }
            }
        }.get()
        return header
    }
}
