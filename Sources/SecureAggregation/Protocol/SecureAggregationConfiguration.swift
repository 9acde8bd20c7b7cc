/// What every phone and the server of one round agree on before it starts: the round, the
/// cohort's parameters (k, t), the ring, the vector length and the graph's public seed.
public struct SecureAggregationConfiguration: Sendable, Hashable {
    /// The round number, bound into every derived key and every message.
    public let round: UInt64
    /// K, k and t.
    public let parameters: SecureAggregationParameters
    /// Z_2^m and the input bit width b.
    public let ring: MaskRing
    /// Coordinates per input vector.
    public let vectorLength: Int
    /// The neighbour graph (from the public seed).
    public let graph: NeighbourGraph

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - round: the round number.
    ///   - parameters: K, k and t (``SecureAggregationParameters``).
    ///   - inputBits: b, 1…16.
    ///   - vectorLength: coordinates per input, ≥ 1.
    ///   - graphSeed: the public seed of the neighbour graph's permutation (the server draws it
    ///     when the round opens).
    ///   - margin: extra ring bits beyond b + ⌈log2 K⌉ (``MaskRing``).
    /// - Throws: ``SecureAggregationError/Code/ringTooSmall`` when the ring would exceed 32 bits.
    public init(
        round: UInt64, parameters: SecureAggregationParameters, inputBits: Int, vectorLength: Int, graphSeed: UInt64,
        margin: Int = 0
    ) throws(SecureAggregationError) {
        precondition(vectorLength >= 1, "vectors have at least one coordinate")
        self.round = round
        self.parameters = parameters
        self.ring = try MaskRing(inputBits: inputBits, cohortSize: parameters.cohortSize, margin: margin)
        self.vectorLength = vectorLength
        self.graph = NeighbourGraph(
            cohortSize: parameters.cohortSize, degree: parameters.neighbours, seed: graphSeed)
    }

    /// A configuration whose inputs are arbitrary elements of Z_2^m (``MaskRing/init(ringBits:)``):
    /// signed integers in two's complement, e.g. rounded updates with distributed noise.
    ///
    /// - Throws: ``SecureAggregationError/Code/ringTooSmall`` when m is not in 2…32.
    public init(
        round: UInt64, parameters: SecureAggregationParameters, ringBits: Int, vectorLength: Int, graphSeed: UInt64
    ) throws(SecureAggregationError) {
        precondition(vectorLength >= 1, "vectors have at least one coordinate")
        self.round = round
        self.parameters = parameters
        self.ring = try MaskRing(ringBits: ringBits)
        self.vectorLength = vectorLength
        self.graph = NeighbourGraph(
            cohortSize: parameters.cohortSize, degree: parameters.neighbours, seed: graphSeed)
    }

    /// K.
    public var cohortSize: Int { parameters.cohortSize }
    /// t.
    public var threshold: Int { parameters.threshold }
}
