public import LanguageModelTypes

/// How every phone of a run trains on its text: one typed value, validated once where it is
/// made, stored with the run, sent to each device in its ``TrainingPlan`` and turned into the
/// trainer's options on the device, unchanged on the way.
///
/// It encodes flat, with the keys run configurations have always used (`localEpochs`,
/// `clientLearningRate`, …), so stored runs read the same.
public struct ClientTrainingConfiguration: Codable, Sendable, Equatable {
    /// The on-device optimizer.
    public enum Optimizer: String, Codable, Sendable, CaseIterable {
        /// Plain SGD.
        case sgd
        /// Adam with fresh moments every round (nothing but the model crosses rounds).
        case adam
    }

    /// Local epochs `E` per round, in ``epochsRange``.
    public var epochs: Int = 1
    /// Local minibatch size `B` (messages), in ``batchSizeRange``.
    public var batchSize: Int = 16
    /// The on-device optimizer.
    public var optimizer: Optimizer = .sgd
    /// Client learning rate, positive and at most 100.
    public var learningRate: Float = 0.5
    /// Global-norm gradient clip, positive.
    public var clipNorm: Float = 5
    /// Longest message trained on, in words, in ``maxMessageLengthRange``.
    public var maxMessageLength: Int = 64
    /// At most this many of its messages a device trains on in a round: a fresh random sample
    /// each round (production keyboards cap a client's examples per round so that heavy
    /// typists finish before the deadline). nil: all of them. Neural models only.
    public var messageCap: Int?
    /// Inverted-dropout rate on embeddings and softmax inputs, in ``TrainingOptions/dropoutRange``
    /// (nil: none).
    public var dropout: Float?
    /// FedProx's proximal weight μ (nil or 0: FedAvg's plain local SGD).
    public var proximalMu: Float?

    public static let epochsRange = 1...100
    public static let batchSizeRange = 1...4096
    public static let maxMessageLengthRange = 1...10_000
    public static let messageCapRange = 1...1_000_000

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epochs = "localEpochs"
        case batchSize
        case optimizer = "clientOptimizer"
        case learningRate = "clientLearningRate"
        case clipNorm = "clientClipNorm"
        case maxMessageLength
        case messageCap = "maxDeviceMessages"
        case dropout = "clientDropout"
        case proximalMu = "fedproxMu"
    }

    /// Checks every field; the first problem is thrown naming the flag to change.
    public func validate() throws(FederationError) {
        func bad(_ flag: String, _ rule: String, _ value: Any) -> FederationError {
            FederationError(.invalidConfiguration, "--\(flag) must be \(rule) (got \(value))")
        }
        guard Self.epochsRange.contains(epochs) else { throw bad("local-epochs", "in 1…100", epochs) }
        guard Self.batchSizeRange.contains(batchSize) else { throw bad("batch", "in 1…4096", batchSize) }
        guard learningRate.isFinite, learningRate > 0, learningRate <= 100 else {
            throw bad("client-lr", "a positive number up to 100", learningRate)
        }
        guard clipNorm.isFinite, clipNorm > 0 else { throw bad("client-clip", "positive", clipNorm) }
        guard Self.maxMessageLengthRange.contains(maxMessageLength) else {
            throw bad("max-length", "in 1…10000", maxMessageLength)
        }
        if let dropout, !TrainingOptions.dropoutRange.contains(dropout) {
            throw bad("client-dropout", "at least 0 and below 1", dropout)
        }
        if let messageCap, !Self.messageCapRange.contains(messageCap) {
            throw bad("max-device-messages", "in 1…1000000", messageCap)
        }
    }

    /// The trainer's options for a device of a run seeded `seed`, on one thread.
    public func trainingOptions(seed: UInt64) -> TrainingOptions {
        var options = TrainingOptions(
            batchSize: batchSize, learningRate: learningRate,
            optimizer: optimizer == .adam ? .adam(clipNorm: clipNorm) : .sgd(clipNorm: clipNorm),
            seed: seed, threads: 1, maxMessageLength: maxMessageLength, dropout: dropout ?? 0)
        options.proximalMu = proximalMu ?? 0
        return options
    }
}
