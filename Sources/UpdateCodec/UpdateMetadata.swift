/// What a device says about the update it uploads, carried in the codec's header.
public struct UpdateMetadata: Sendable, Hashable {
    /// The federated run this update belongs to.
    public var runID: UInt64
    /// The round the device trained in.
    public var round: UInt32
    /// The layout hash of the model shape the delta applies to.
    public var layoutHash: UInt64
    /// How many training examples (tokens) the update was computed from; the FedAvg weight.
    public var exampleCount: UInt32
    /// The reporting device.
    public var deviceID: UInt64

    /// Creates metadata; every field is carried verbatim in the header.
    public init(runID: UInt64, round: UInt32, layoutHash: UInt64, exampleCount: UInt32, deviceID: UInt64) {
        self.runID = runID
        self.round = round
        self.layoutHash = layoutHash
        self.exampleCount = exampleCount
        self.deviceID = deviceID
    }
}
