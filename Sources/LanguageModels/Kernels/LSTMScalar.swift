import CBLAS
import Foundation

/// A floating-point type the LSTM core can run in: `Float` for training and serving,
/// `Double` for gradient checks against finite differences.
///
/// Matrix products go to OpenBLAS (`sgemm`/`dgemm`, row-major); the elementwise
/// transcendental kernels are vectorized for `Float` (see ``FastMath``) and plain libm for
/// `Double`.
protocol LSTMScalar: BinaryFloatingPoint, Sendable {
    /// `C = alpha · op(A) · op(B) + beta · C`, row-major, `op(A)` is `m × k`, `op(B)` is `k × n`.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// `C[m×n] += A[m×k] · B[n×k]ᵀ` (`alpha = beta = 1`) where `A` has few rows: the
    /// recurrent step's products (rows = messages still running), up to ``fewRowLimits`` rows.
    static func gemmFewRows(
        m: Int, n: Int, k: Int, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Up to how many rows the graph's recurrent products (forward `gates += h·Wh` on the
    /// transposed `Wh`, backward `dh += dgates·Whᵀ`) go through
    /// ``gemmFewRows(m:n:k:a:lda:b:ldb:c:ldc:)``; above that, `gemm` as before.
    static var fewRowLimits: (forward: Int, backward: Int) { get }
    /// `x[i] = 1 / (1 + e^(−x[i]))` for `i < count`.
    static func sigmoidInPlace(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// `x[i] = tanh(x[i])` for `i < count`.
    static func tanhInPlace(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// Turns a row of logits into probabilities over every id except `<pad>` (0) and `<s>` (2),
    /// whose probabilities become exactly 0, and returns the log of the normalizer
    /// (`log Σ exp(logit)` over the included ids).
    static func softmaxExcludingPadAndBOS(_ row: UnsafeMutablePointer<Self>, count: Int) -> Self
    /// Softmax + cross-entropy + gradient of one row of logits that do not yet include the
    /// output bias (see ``FastMath/softmaxCrossEntropy(_:bias:count:target:gradientScale:biasGradient:)``):
    /// returns `log Σ exp(row + bias) − (row + bias)[target]` over every id except `<pad>` and
    /// `<s>`; with `biasGradient`, the row becomes `gradientScale · (softmax − onehot(target))`
    /// (0 at `<pad>` and `<s>`) and is added into `biasGradient`.
    static func softmaxCrossEntropy(
        _ row: UnsafeMutablePointer<Self>, bias: UnsafePointer<Self>, count: Int, target: Int, gradientScale: Self,
        biasGradient: UnsafeMutablePointer<Self>?
    ) -> Self
    /// The natural logarithm.
    static func naturalLog(_ x: Self) -> Self
    /// Σ x[i]², accumulated in a fixed order.
    static func sumOfSquares(_ x: UnsafePointer<Self>, count: Int) -> Double
}

@inline(__always)
private func transpose(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: LSTMScalar {
    @inline(__always)
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor, transpose(transA), transpose(transB), Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// ``SmallRowGEMM`` rather than `sgemm`, forward and backward: measured side by side with
    /// `lstm-bench products` on cifg-small and cifg-gboard
    /// (docs/results/2026-12-01-training-profile.md), the own kernel wins up to 8 rows forward
    /// and up to 32 (the largest batch measured) backward. `KBD_SIM_SMALL_ROW_GEMM=0` turns it
    /// off (for A/B runs of one binary), `=N` sets both limits to N.
    static let fewRowLimits: (forward: Int, backward: Int) = {
        if let s = getenv("KBD_SIM_SMALL_ROW_GEMM"), let n = Int(String(cString: s)), n >= 0 { return (n, n) }
        return (8, 32)
    }()

    @inline(__always)
    static func gemmFewRows(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        SmallRowGEMM.multiplyAddTransposed(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
    }

    @inline(__always)
    static func sigmoidInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { FastMath.sigmoid(x, count: count) }

    @inline(__always)
    static func tanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { FastMath.tanh(x, count: count) }

    @inline(__always)
    static func softmaxExcludingPadAndBOS(_ row: UnsafeMutablePointer<Float>, count: Int) -> Float {
        FastMath.softmaxExcludingPadAndBOS(row, count: count)
    }

    @inline(__always)
    static func softmaxCrossEntropy(
        _ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int, target: Int, gradientScale: Float,
        biasGradient: UnsafeMutablePointer<Float>?
    ) -> Float {
        FastMath.softmaxCrossEntropy(
            row, bias: bias, count: count, target: target, gradientScale: gradientScale, biasGradient: biasGradient)
    }

    @inline(__always)
    static func naturalLog(_ x: Float) -> Float { Foundation.log(x) }

    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        FastMath.sumOfSquares(x, count: count)
    }
}

extension Double: LSTMScalar {
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_dgemm(
            CblasRowMajor, transpose(transA), transpose(transB), Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Always: the gradient checks run the forward step on the transposed kernel too.
    static var fewRowLimits: (forward: Int, backward: Int) { (Int.max, Int.max) }

    static func gemmFewRows(
        m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        gemm(
            transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: c,
            ldc: ldc)
    }

    static func sigmoidInPlace(_ x: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { x[i] = 1 / (1 + Foundation.exp(-x[i])) }
    }

    static func tanhInPlace(_ x: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { x[i] = Foundation.tanh(x[i]) }
    }

    static func softmaxExcludingPadAndBOS(_ row: UnsafeMutablePointer<Double>, count: Int) -> Double {
        var m = -Double.infinity
        for i in 0..<count where i != 0 && i != 2 { m = Swift.max(m, row[i]) }
        var sum = 0.0
        for i in 0..<count {
            if i == 0 || i == 2 {
                row[i] = 0
            } else {
                row[i] = Foundation.exp(row[i] - m)
                sum += row[i]
            }
        }
        let inv = 1 / sum
        for i in 0..<count { row[i] *= inv }
        return m + Foundation.log(sum)
    }

    static func softmaxCrossEntropy(
        _ row: UnsafeMutablePointer<Double>, bias: UnsafePointer<Double>, count: Int, target: Int,
        gradientScale: Double, biasGradient: UnsafeMutablePointer<Double>?
    ) -> Double {
        for j in 0..<count { row[j] += bias[j] }
        let targetLogit = row[target]
        let lse = softmaxExcludingPadAndBOS(row, count: count)
        if let biasGradient {
            row[target] -= 1
            for j in 0..<count {
                row[j] *= gradientScale
                biasGradient[j] += row[j]
            }
        }
        return lse - targetLogit
    }

    static func naturalLog(_ x: Double) -> Double { Foundation.log(x) }

    static func sumOfSquares(_ x: UnsafePointer<Double>, count: Int) -> Double {
        var s = 0.0
        for i in 0..<count { s += x[i] * x[i] }
        return s
    }
}
