/// Validates and decodes messages from untrusted devices.
///
/// Every malformed message is rejected with an ``UpdateCodecError`` naming the field; no input
/// makes the decoder trap or allocate beyond ``limits``. Framing, every header field and the
/// CRC-32 are checked before anything is allocated or inflated.
public struct UpdateDecoder: Sendable {
    /// Size and magnitude bounds.
    public var limits: DecodeLimits
    /// When set, messages for another model layout are rejected (`layoutHashMismatch`).
    public var expectedLayoutHash: UInt64?
    /// When set, messages with another parameter count are rejected (`parameterCountMismatch`).
    public var expectedParameterCount: Int?

    /// Creates a decoder.
    public init(
        limits: DecodeLimits = DecodeLimits(), expectedLayoutHash: UInt64? = nil, expectedParameterCount: Int? = nil
    ) {
        self.limits = limits
        self.expectedLayoutHash = expectedLayoutHash
        self.expectedParameterCount = expectedParameterCount
    }

    /// Validates framing, header fields, expectations and checksum, and returns the header.
    ///
    /// Does not inflate the payload, so payload errors (corrupt stream, bad scales) surface
    /// only from ``decode(_:)-(UnsafeRawBufferPointer)`` or ``decode(_:into:scratch:)``.
    /// - Complexity: O(message length) for the CRC; no allocation.
    public func readHeader(_ message: UnsafeRawBufferPointer) throws(UpdateCodecError) -> UpdateHeader {
        let header = try UpdateHeader.validate(message, limits: limits)
        if let expectedLayoutHash, header.metadata.layoutHash != expectedLayoutHash {
            throw UpdateCodecError(
                code: .layoutHashMismatch, field: "layoutHash", message: "update is for another model layout",
                offset: 56)
        }
        if let expectedParameterCount, header.parameterCount != expectedParameterCount {
            throw UpdateCodecError(
                code: .parameterCountMismatch, field: "parameterCount",
                message: "update has \(header.parameterCount) parameters, expected \(expectedParameterCount)",
                offset: 16)
        }
        return header
    }

    /// Validates the header of a message held in an array; see ``readHeader(_:)-(UnsafeRawBufferPointer)``.
    public func readHeader(_ message: [UInt8]) throws(UpdateCodecError) -> UpdateHeader {
        try message.withUnsafeBytes { bytes in Result { () throws(UpdateCodecError) in try readHeader(bytes) } }.get()
    }

    /// Decodes a message into its header and values (the clipped delta, rotation undone).
    ///
    /// - Throws: ``UpdateCodecError`` for any malformed message.
    /// - Complexity: O(n log B); allocates the n-value result plus one window and one
    ///   inflate staging buffer (≤ 4 MiB + 128 KiB).
    public func decode(_ message: UnsafeRawBufferPointer) throws(UpdateCodecError) -> DecodedUpdate {
        let header = try readHeader(message)
        let window = UnsafeMutableBufferPointer<Float>.allocate(capacity: PayloadDecoder.windowLength(for: header))
        defer { window.deallocate() }
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: PayloadDecoder.stagingBytes, alignment: 16)
        defer { staging.deallocate() }
        var values = [Float](repeating: 0, count: header.parameterCount)
        try values.withUnsafeMutableBufferPointer { out in
            Result { () throws(UpdateCodecError) in
                try PayloadDecoder.run(
                    header: header, message: message, limits: limits, checkOnly: false, window: window, staging: staging
                ) { offset, chunk in
                    _ = UnsafeMutableBufferPointer(rebasing: out[offset..<(offset + chunk.count)]).update(
                        fromContentsOf: chunk)
                }
            }
        }.get()
        return DecodedUpdate(header: header, values: values)
    }

    /// Decodes a message held in an array; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public func decode(_ message: [UInt8]) throws(UpdateCodecError) -> DecodedUpdate {
        try message.withUnsafeBytes { bytes in Result { () throws(UpdateCodecError) in try decode(bytes) } }.get()
    }
}

/// A decoded update: its header and the delta the device sent (after its clipping).
public struct DecodedUpdate: Sendable {
    /// The validated header.
    public var header: UpdateHeader
    /// The decoded delta, `header.parameterCount` values.
    public var values: [Float]
}
