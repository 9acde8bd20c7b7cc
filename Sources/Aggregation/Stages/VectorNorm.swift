/// The L2 arithmetic every norm-bounding or norm-reporting stage shares (clip, norm bound,
/// norm histogram, the robust aggregators' buffer): one accumulation order, so every stage
/// sees the same norm of the same update.
public enum VectorNorm {
    /// The L2 norm of `values`, accumulated in `Double` in index order.
    public static func l2(_ values: UnsafeBufferPointer<Float>) -> Double {
        var squares = 0.0
        for v in values { squares += Double(v) * Double(v) }
        return squares.squareRoot()
    }

    /// Scales `values` (of L2 norm `norm`) down to norm `bound` if it is longer; returns
    /// whether it did. A vector within the bound is left bit for bit.
    @discardableResult
    public static func scale(_ values: UnsafeMutableBufferPointer<Float>, norm: Double, toAtMost bound: Double) -> Bool
    {
        guard norm > bound else { return false }
        let factor = Float(bound / norm)
        for i in values.indices { values[i] *= factor }
        return true
    }
}
