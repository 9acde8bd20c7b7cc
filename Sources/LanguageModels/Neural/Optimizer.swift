import LanguageModelTypes

/// The optimizer's state over one flat parameter vector.
struct OptimizerState {
    let kind: OptimizerKind
    private var m: ContiguousArray<Float> = []
    private var v: ContiguousArray<Float> = []
    private var step = 0

    init(kind: OptimizerKind, parameterCount: Int) {
        self.kind = kind
        if case .adam = kind {
            m = ContiguousArray(repeating: 0, count: parameterCount)
            v = ContiguousArray(repeating: 0, count: parameterCount)
        }
    }

    /// Applies one update; returns the gradient's global L2 norm before clipping.
    @discardableResult
    mutating func apply(
        gradients g: UnsafeMutablePointer<Float>, to p: UnsafeMutablePointer<Float>, count: Int, learningRate: Float
    ) -> Float {
        let norm = Float(Float.sumOfSquares(g, count: count).squareRoot())
        var scale: Float = 1
        switch kind {
        case .sgd(let clip), .adam(_, _, _, let clip):
            if let clip, norm > clip, norm.isFinite { scale = clip / norm }
        }
        step += 1
        switch kind {
        case .sgd:
            let a = -learningRate * scale
            for i in 0..<count { p[i] += a * g[i] }
        case .adam(let b1, let b2, let eps, _):
            let t = Float(step)
            let c1 = 1 - pow(b1, t)
            let c2 = 1 - pow(b2, t)
            let lr = learningRate * c2.squareRoot() / c1
            m.withUnsafeMutableBufferPointer { mb in
                v.withUnsafeMutableBufferPointer { vb in
                    let mp = mb.baseAddress!
                    let vp = vb.baseAddress!
                    for i in 0..<count {
                        let gi = g[i] * scale
                        mp[i] = b1 * mp[i] + (1 - b1) * gi
                        vp[i] = b2 * vp[i] + (1 - b2) * gi * gi
                        p[i] -= lr * mp[i] / (vp[i].squareRoot() + eps)
                    }
                }
            }
        }
        return norm
    }
}

@inline(__always)
private func pow(_ x: Float, _ y: Float) -> Float {
    var r: Float = 1
    var n = Int(y)
    var b = x
    while n > 0 {
        if n & 1 == 1 { r *= b }
        b *= b
        n >>= 1
    }
    return r
}
