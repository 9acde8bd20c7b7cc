/// Hyperparameters of a training run.
public struct TrainingOptions: Sendable, Hashable {
    /// Messages per minibatch.
    public var batchSize: Int
    /// The step size.
    public var learningRate: Float
    /// SGD (on-device) or Adam (centralized).
    public var optimizer: OptimizerKind
    /// Seeds the per-epoch shuffle (stream `(seed, epoch)`).
    public var seed: UInt64
    /// Worker threads per step: 1, or 2 to split each batch in two halves whose gradients
    /// are summed in a fixed order. Results are bit-reproducible for a fixed thread count.
    public var threads: Int
    /// Longest message trained on, in words; longer messages are cut (0 = no limit).
    public var maxMessageLength: Int
    /// Inverted-dropout rate on embeddings and softmax inputs during training, `0..<1`
    /// (0 = off). Masks come from stream `(seed, step, worker)`.
    public var dropout: Float = 0
    /// The learning rate of epoch `e` is `learningRate · learningRateDecay^e` (1 = constant).
    public var learningRateDecay: Float = 1
    /// FedProx's proximal weight μ (Li et al. 2020): local training minimizes the loss plus
    /// `μ/2 · ‖w − w₀‖²`, where `w₀` is the model the device started from, so every step's
    /// gradient gains `μ·(w − w₀)` before clipping. 0 (the default) is plain local SGD (FedAvg).
    /// Used only by ``LSTMTrainer/trainLocally(from:on:epochs:seed:)``.
    public var proximalMu: Float = 0

    /// The dropout rates training accepts, wherever they are set (`kbd-sim train --dropout`,
    /// `kbd-sim run --client-dropout`): inverted dropout keeps a unit with probability
    /// `1 − p`, so `p` must stay below 1.
    public static let dropoutRange: Range<Float> = 0..<1

    /// Creates options.
    public init(
        batchSize: Int = 8, learningRate: Float = 0.5, optimizer: OptimizerKind = .sgd(clipNorm: 5),
        seed: UInt64 = 1, threads: Int = 1, maxMessageLength: Int = 64, dropout: Float = 0,
        learningRateDecay: Float = 1
    ) {
        self.dropout = dropout
        self.learningRateDecay = learningRateDecay
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.optimizer = optimizer
        self.seed = seed
        self.threads = threads
        self.maxMessageLength = maxMessageLength
    }
}
