/// Bounds a decoder enforces before it allocates or inflates anything.
///
/// Every size in a message is checked against these and against what the parameter count and
/// bit width imply, so a hostile message cannot make the decoder allocate or inflate more.
public struct DecodeLimits: Sendable, Hashable {
    /// The most parameters a message may declare (default 2²⁶ ≈ 67 M; ``UpdateDecoder/decode(_:)-(UnsafeRawBufferPointer)``
    /// allocates 4 bytes for each).
    public var maxParameterCount: Int
    /// The most bytes a payload may inflate to (default 256 MiB); the zip-bomb guard.
    public var maxRawPayloadBytes: Int

    /// The largest magnitude a scale or float value may have (default 10⁹).
    ///
    /// Finite but huge values would overflow the inverse rotation (a sum of up to 2²⁰ terms)
    /// or a weighted sum on the server, so they are refused like NaN.
    public var maxMagnitude: Float

    /// Creates limits; all must be ≥ 0.
    public init(maxParameterCount: Int = 1 << 26, maxRawPayloadBytes: Int = 256 << 20, maxMagnitude: Float = 1e9) {
        precondition(maxParameterCount >= 0 && maxRawPayloadBytes >= 0 && maxMagnitude >= 0, "limits must be >= 0")
        self.maxParameterCount = maxParameterCount
        self.maxRawPayloadBytes = maxRawPayloadBytes
        self.maxMagnitude = maxMagnitude
    }
}
