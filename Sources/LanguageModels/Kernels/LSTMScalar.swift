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
    /// `x[i] = 1 / (1 + e^(−x[i]))` for `i < count`.
    static func sigmoidInPlace(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// `x[i] = tanh(x[i])` for `i < count`.
    static func tanhInPlace(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// Turns a row of logits into probabilities over every id except `<pad>` (0) and `<s>` (2),
    /// whose probabilities become exactly 0, and returns the log of the normalizer
    /// (`log Σ exp(logit)` over the included ids).
    static func softmaxExcludingPadAndBOS(_ row: UnsafeMutablePointer<Self>, count: Int) -> Self
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

    @inline(__always)
    static func sigmoidInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { FastMath.sigmoid(x, count: count) }

    @inline(__always)
    static func tanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { FastMath.tanh(x, count: count) }

    @inline(__always)
    static func softmaxExcludingPadAndBOS(_ row: UnsafeMutablePointer<Float>, count: Int) -> Float {
        FastMath.softmaxExcludingPadAndBOS(row, count: count)
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

    static func naturalLog(_ x: Double) -> Double { Foundation.log(x) }

    static func sumOfSquares(_ x: UnsafePointer<Double>, count: Int) -> Double {
        var s = 0.0
        for i in 0..<count { s += x[i] * x[i] }
        return s
    }
}
