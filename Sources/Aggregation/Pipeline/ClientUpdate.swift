/// One client update as it moves through a round's per-update stages.
///
/// The buffers are borrowed for the duration of one ``AggregationPipeline/accept(_:into:)``
/// call: ``message`` is the device's bytes as sent (untrusted), ``values`` a scratch buffer of
/// the model's parameter count that the pipeline's owner reuses for every update.
public struct ClientUpdate {
    /// The reporting device.
    public let device: UInt32
    /// The encoded update as the device sent it.
    public let message: UnsafeRawBufferPointer
    /// The decoded delta (`local − global`), written by the decode stage.
    public var values: UnsafeMutableBufferPointer<Float>
    /// Training examples (tokens) the device says it trained on; set by the decode stage.
    public var exampleCount: Int = 0
    /// The update's weight in the sum; set by the weight stage.
    public var weight: Float = 0
    /// Set by a stage that leaves the update out of the sum (a robust aggregator, a filter).
    public var isDiscarded = false

    /// An update of `device` in `message`, decoding into `values`.
    public init(device: UInt32, message: UnsafeRawBufferPointer, values: UnsafeMutableBufferPointer<Float>) {
        self.device = device
        self.message = message
        self.values = values
    }
}
