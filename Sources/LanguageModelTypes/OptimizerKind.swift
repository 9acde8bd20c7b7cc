/// How the trainer turns gradients into weight updates.
public enum OptimizerKind: Sendable, Hashable {
    /// Plain SGD, the on-device optimizer: `w −= lr · g`, after scaling `g` so its global
    /// L2 norm is at most `clipNorm` (no clipping if `nil`).
    case sgd(clipNorm: Float?)
    /// Adam (Kingma & Ba 2015) with bias correction, for the centralized baseline; the
    /// gradient is clipped to `clipNorm` first, if given.
    case adam(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, clipNorm: Float?)
}
