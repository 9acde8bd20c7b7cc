import Dispatch

/// Where one worker's training time goes, phase by phase: an opt-in timing mode for
/// `lstm-bench profile` (docs/results/2026-12-01-training-profile.md).
///
/// Attach one to ``LSTMTrainer/profile`` and every step reads the clock at each phase
/// boundary and adds the time since the previous boundary to the phase just finished. With
/// no profile attached (the default) the only cost is one `nil` check per boundary: no clock
/// is read. Single-thread use only (one trainer, `threads: 1`).
public final class TrainingProfile {
    /// The phases a training step is split into.
    public enum Phase: Int, CaseIterable, Sendable {
        /// Splitting the batch into time steps and rows (``LSTMTrainer`` clipping + the graph's
        /// `prepare`).
        case packing
        /// Embedding rows copied into the input, dropout masks, and the embedding gradient's
        /// scatter-add by input id.
        case embedding
        /// The cell's matrix products: input and recurrent gate pre-activations, their weight
        /// gradients and the gradients into the input and the previous hidden state.
        case cellProducts
        /// The cell's elementwise work: gate nonlinearities, cell and hidden state updates, the
        /// backward elementwise gate gradients, the bias gradient, state copies.
        case cellElementwise
        /// The projection's products (forward, weight gradient, gradient into the hidden state).
        case projectionProducts
        /// The tied softmax layer's products: logits = y·Eᵀ (+ bias), its gradient into the
        /// embedding (dlogitsᵀ·y) and into y (dlogits·E).
        case outputProducts
        /// Softmax, cross-entropy and the logits' gradient, including the output bias gradient.
        case softmax
        /// The optimizer: gradient norm, clipping and the parameter update.
        case optimizer
        /// Everything else in the step (zeroing buffers, bookkeeping).
        case other
    }

    /// Nanoseconds per phase, indexed by ``Phase/rawValue``.
    public private(set) var nanoseconds: [UInt64]
    /// Steps profiled.
    public private(set) var steps = 0
    /// Target tokens (words and `</s>`) in the profiled steps.
    public private(set) var tokens = 0
    private var last: UInt64 = 0

    /// An empty profile.
    public init() {
        nanoseconds = [UInt64](repeating: 0, count: Phase.allCases.count)
    }

    /// Clears all figures.
    public func reset() {
        for i in nanoseconds.indices { nanoseconds[i] = 0 }
        steps = 0
        tokens = 0
    }

    /// Seconds spent in `phase`.
    public func seconds(_ phase: Phase) -> Double { Double(nanoseconds[phase.rawValue]) / 1e9 }

    /// Seconds over all phases.
    public var totalSeconds: Double { Double(nanoseconds.reduce(0, +)) / 1e9 }

    /// Starts the clock at the beginning of a step.
    @inline(__always)
    func begin() { last = DispatchTime.now().uptimeNanoseconds }

    /// Charges the time since the last boundary to `phase` and starts the next interval.
    @inline(__always)
    func lap(_ phase: Phase) {
        let now = DispatchTime.now().uptimeNanoseconds
        nanoseconds[phase.rawValue] &+= now &- last
        last = now
    }

    /// Counts one finished step of `tokens` target tokens.
    func finishStep(tokens: Int) {
        steps += 1
        self.tokens += tokens
    }
}
