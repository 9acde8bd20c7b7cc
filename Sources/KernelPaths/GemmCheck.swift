import CBLAS

/// One `cblas_sgemm` the model makes, row-major: `C[m×n] = op(A)[m×k] · op(B)[k×n]`.
public struct GemmShape: Sendable, Equatable {
    public var use: String
    public var m: Int
    public var n: Int
    public var k: Int
    public var transA: Bool
    public var transB: Bool

    public init(_ use: String, m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false) {
        self.use = use
        self.m = m
        self.n = n
        self.k = k
        self.transA = transA
        self.transB = transB
    }

    /// "32×10004×96 NT" (m×n×k, then op(A) op(B): N plain, T transposed).
    public var label: String { "\(m)×\(n)×\(k) \(transA ? "T" : "N")\(transB ? "T" : "N")" }
}

/// The result of checking one shape against the Double-precision reference.
public struct GemmCheckResult: Sendable {
    public var shape: GemmShape
    /// max over C's elements of |sgemm − reference| / Σₖ |a·b| (the scale of that dot product;
    /// float32 rounding keeps it near 1e-7, a wrong kernel puts it near 1).
    public var maxRelativeError: Double
    public var passed: Bool { maxRelativeError <= GemmCheck.tolerance }
}

/// Checks OpenBLAS's `sgemm` in this process (whatever core it runs) on the model's shapes.
public enum GemmCheck {
    /// Passing bound on ``GemmCheckResult/maxRelativeError``: float32 accumulation over
    /// k ≤ 10,004 terms stays below k·2⁻²⁴ ≈ 6e-4 in the worst case and near 1e-6 in practice.
    public static let tolerance = 1e-4

    /// The products of one training step and one prediction of the keyboard models (cifg-small:
    /// vocabulary 10,004, embedding and projection 96, hidden 256, 3 gate blocks = 768;
    /// cifg-gboard: hidden 670, gates 2,010), with a batch of 8 messages of 16 tokens (128 rows)
    /// and a 32-row softmax chunk.
    public static let modelShapes: [GemmShape] = [
        GemmShape("softmax logits", m: 32, n: 10004, k: 96, transB: true),
        GemmShape("softmax embedding gradient", m: 10004, n: 96, k: 32, transA: true),
        GemmShape("softmax input gradient", m: 32, n: 96, k: 10004),
        GemmShape("input gates", m: 128, n: 768, k: 96),
        GemmShape("recurrent gates", m: 8, n: 768, k: 256),
        GemmShape("projection", m: 128, n: 96, k: 256),
        GemmShape("recurrent backward", m: 8, n: 256, k: 768, transB: true),
        GemmShape("recurrent weight gradient", m: 256, n: 768, k: 120, transA: true),
        GemmShape("one-word prediction logits", m: 1, n: 10004, k: 96, transB: true),
        GemmShape("cifg-gboard recurrent gates", m: 8, n: 2010, k: 670),
    ]

    /// Runs `shape` through `cblas_sgemm` (one OpenBLAS thread, as the trainers use) on
    /// reproducible values in [−1, 1) and compares with a naive Double-precision product.
    public static func run(_ shape: GemmShape, seed: UInt64 = 1) -> GemmCheckResult {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Float {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(Int64(state >> 40) - (1 << 23)) / Float(1 << 23)
        }
        // Stored as the BLAS call sees them: A is m×k (or k×m when transposed), B k×n (or n×k).
        let a = (0..<(m * k)).map { _ in next() }
        let b = (0..<(k * n)).map { _ in next() }
        var c = [Float](repeating: 0, count: m * n)
        let lda = shape.transA ? m : k
        let ldb = shape.transB ? k : n
        let threads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        cblas_sgemm(
            CblasRowMajor, shape.transA ? CblasTrans : CblasNoTrans, shape.transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, &c, Int32(n))
        openblas_set_num_threads(threads)
        // op(A) by rows and op(B) by columns, in Double, so each dot product reads two rows.
        let rows = UnsafeMutablePointer<Double>.allocate(capacity: m * k)
        let columns = UnsafeMutablePointer<Double>.allocate(capacity: n * k)
        defer {
            rows.deallocate()
            columns.deallocate()
        }
        for i in 0..<m {
            for p in 0..<k { rows[i * k + p] = Double(shape.transA ? a[p * lda + i] : a[i * lda + p]) }
        }
        for j in 0..<n {
            for p in 0..<k { columns[j * k + p] = Double(shape.transB ? b[j * ldb + p] : b[p * ldb + j]) }
        }
        var worst = 0.0
        for i in 0..<m {
            let x = rows + i * k
            for j in 0..<n {
                let y = columns + j * k
                var sum = 0.0
                var scale = 0.0
                for p in 0..<k {
                    let product = x[p] * y[p]
                    sum += product
                    scale += product.magnitude
                }
                let error = (Double(c[i * n + j]) - sum).magnitude / max(scale, .leastNormalMagnitude)
                // NaN compares false: count it as the worst possible error.
                worst = error <= worst ? worst : (error.isNaN ? .infinity : error)
            }
        }
        return GemmCheckResult(shape: shape, maxRelativeError: worst)
    }
}
