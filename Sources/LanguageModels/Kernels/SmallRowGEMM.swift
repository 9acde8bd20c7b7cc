/// Register-tiled single-precision matrix products for few rows: the recurrent step's
/// products, whose rows are the messages of a batch still running at that time step (1 to
/// 32), against the recurrent kernel (`h × g`, 256 × 768 in cifg-small, 670 × 2010 in
/// cifg-gboard).
///
/// One product, `C += A·Bᵀ`, where every element is a dot product of two contiguous rows:
/// the backward step `dh += dgates·Whᵀ` directly, and the forward step `gates += h·Wh` on a
/// transposed copy of `Wh` that the graph makes once per batch. OpenBLAS packs the whole
/// weight operand into panels on every call; with 8 rows that copy costs about as much as the
/// arithmetic, and the recurrent kernel of cifg-gboard (5.4 MB) does not fit in L2. This
/// kernel reads the weights in place, once per call: three weight rows (24 KB in cifg-gboard)
/// stay in L1 while every 4-row tile of `A` goes through them. Tile: 4 rows × 3 weight rows,
/// 12 `SIMD8<Float>` accumulators, 7 loads per 12 FMAs. (An `A·B` kernel reading `Wh` by
/// columns measured half of `sgemm`'s speed on cifg-gboard: 96 bytes per 8 KB row stride.)
///
/// It accumulates into `C` (`beta = 1`, `alpha = 1`); each element is summed in an order that
/// depends only on `k` (eight lanes, the lanes' sum, then the tail), never on the tile it
/// falls in or on `m`, so results are bit-reproducible; they differ from `sgemm`'s by rounding.
/// Compiled with `-target-cpu haswell` (Package.swift `kernelSettings`): each
/// `addingProduct` is one `vfmadd` on 256-bit registers.
enum SmallRowGEMM {
    typealias V8 = SIMD8<Float>

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }

    @inline(__always)
    private static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
    }

    /// `C[m×n] += A[m×k] · B[n×k]ᵀ`, row-major with leading dimensions `lda`, `ldb`, `ldc`:
    /// `C[i][j] += Σₚ A[i][p]·B[j][p]`, a dot product of two contiguous rows per element.
    static func multiplyAddTransposed(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 || k == 0 { return }
        var j = 0
        while j + 3 <= n {
            var i = 0
            while i + 4 <= m {
                tileT4x3(k: k, a: a + i * lda, lda: lda, b: b + j * ldb, ldb: ldb, c: c + i * ldc + j, ldc: ldc)
                i += 4
            }
            while i < m {
                for jj in j..<(j + 3) { c[i * ldc + jj] += dot(k: k, a + i * lda, b + jj * ldb) }
                i += 1
            }
            j += 3
        }
        while j < n {
            for i in 0..<m { c[i * ldc + j] += dot(k: k, a + i * lda, b + j * ldb) }
            j += 1
        }
    }

    /// `Σₚ x[p]·y[p]`: eight lanes, then the lanes summed and the tail added in order.
    @inline(__always)
    private static func dot(k: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        var acc = V8()
        var p = 0
        while p + 8 <= k {
            acc = acc.addingProduct(load(x + p), load(y + p))
            p += 8
        }
        var s = acc.sum()
        while p < k {
            s = s.addingProduct(x[p], y[p])
            p += 1
        }
        return s
    }

    @inline(__always)
    private static func tileT4x3(
        k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>,
        ldc: Int
    ) {
        let a0 = a
        let a1 = a + lda
        let a2 = a + 2 * lda
        let a3 = a + 3 * lda
        let b0 = b
        let b1 = b + ldb
        let b2 = b + 2 * ldb
        var s00 = V8()
        var s01 = V8()
        var s02 = V8()
        var s10 = V8()
        var s11 = V8()
        var s12 = V8()
        var s20 = V8()
        var s21 = V8()
        var s22 = V8()
        var s30 = V8()
        var s31 = V8()
        var s32 = V8()
        var p = 0
        while p + 8 <= k {
            let y0 = load(b0 + p)
            let y1 = load(b1 + p)
            let y2 = load(b2 + p)
            let x0 = load(a0 + p)
            s00 = s00.addingProduct(x0, y0)
            s01 = s01.addingProduct(x0, y1)
            s02 = s02.addingProduct(x0, y2)
            let x1 = load(a1 + p)
            s10 = s10.addingProduct(x1, y0)
            s11 = s11.addingProduct(x1, y1)
            s12 = s12.addingProduct(x1, y2)
            let x2 = load(a2 + p)
            s20 = s20.addingProduct(x2, y0)
            s21 = s21.addingProduct(x2, y1)
            s22 = s22.addingProduct(x2, y2)
            let x3 = load(a3 + p)
            s30 = s30.addingProduct(x3, y0)
            s31 = s31.addingProduct(x3, y1)
            s32 = s32.addingProduct(x3, y2)
            p += 8
        }
        var t = (
            s00.sum(), s01.sum(), s02.sum(), s10.sum(), s11.sum(), s12.sum(), s20.sum(), s21.sum(), s22.sum(),
            s30.sum(), s31.sum(), s32.sum()
        )
        while p < k {
            let y0 = b0[p]
            let y1 = b1[p]
            let y2 = b2[p]
            t.0 = t.0.addingProduct(a0[p], y0)
            t.1 = t.1.addingProduct(a0[p], y1)
            t.2 = t.2.addingProduct(a0[p], y2)
            t.3 = t.3.addingProduct(a1[p], y0)
            t.4 = t.4.addingProduct(a1[p], y1)
            t.5 = t.5.addingProduct(a1[p], y2)
            t.6 = t.6.addingProduct(a2[p], y0)
            t.7 = t.7.addingProduct(a2[p], y1)
            t.8 = t.8.addingProduct(a2[p], y2)
            t.9 = t.9.addingProduct(a3[p], y0)
            t.10 = t.10.addingProduct(a3[p], y1)
            t.11 = t.11.addingProduct(a3[p], y2)
            p += 1
        }
        c[0] += t.0
        c[1] += t.1
        c[2] += t.2
        c[ldc] += t.3
        c[ldc + 1] += t.4
        c[ldc + 2] += t.5
        c[2 * ldc] += t.6
        c[2 * ldc + 1] += t.7
        c[2 * ldc + 2] += t.8
        c[3 * ldc] += t.9
        c[3 * ldc + 1] += t.10
        c[3 * ldc + 2] += t.11
    }
}
