import Foundation
import Testing

@testable import LanguageModels

/// The recurrent step's own product kernel against a Double reference and brute force.
@Suite("Small-row matrix product")
struct SmallRowGEMMTests {
    /// Reproducible values in [−1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMixForTests(seed: seed)
        return (0..<count).map { _ in Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1 }
    }

    @Test(
        "C += A·Bᵀ matches a Double reference and a naive Float loop, on every tile and tail",
        arguments: [1, 2, 3, 4, 5, 8, 9, 13], [1, 2, 3, 4, 7, 24])
    func matchesReference(m: Int, n: Int) {
        for k in [1, 7, 8, 9, 17, 40, 67] {
            // Leading dimensions larger than the widths: the kernel must respect them.
            let lda = k + 3
            let ldb = k + 1
            let ldc = n + 2
            let a = Self.values(m * lda, seed: UInt64(m * 1000 + k))
            let b = Self.values(n * ldb, seed: UInt64(n * 1000 + k + 7))
            let c0 = Self.values(m * ldc, seed: UInt64(m + n + k))
            var c = c0
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer {
                        SmallRowGEMM.multiplyAddTransposed(
                            m: m, n: n, k: k, a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                            c: $0.baseAddress!, ldc: ldc)
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<ldc {
                    let got = c[i * ldc + j]
                    if j >= n {
                        #expect(got == c0[i * ldc + j], "padding column \(j) written")
                        continue
                    }
                    var exact = Double(c0[i * ldc + j])
                    var bound = abs(exact)
                    var naive = c0[i * ldc + j]
                    for p in 0..<k {
                        let product = Double(a[i * lda + p]) * Double(b[j * ldb + p])
                        exact += product
                        bound += abs(product)
                        naive += a[i * lda + p] * b[j * ldb + p]
                    }
                    // Float accumulation of k terms: error ≤ about k·2⁻²⁴·Σ|terms|.
                    let tolerance = Double(k + 2) * 6e-8 * bound + 1e-30
                    #expect(abs(Double(got) - exact) <= tolerance, "m \(m) n \(n) k \(k) [\(i)][\(j)]")
                    #expect(abs(Double(naive) - exact) <= tolerance)
                }
            }
        }
    }

    @Test("each element is the same whichever tile computes it")
    func elementsDoNotDependOnTheTile() {
        let k = 37
        let m = 7
        let n = 5
        let a = Self.values(m * k, seed: 1)
        let b = Self.values(n * k, seed: 2)
        var all = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                all.withUnsafeMutableBufferPointer {
                    SmallRowGEMM.multiplyAddTransposed(
                        m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k, c: $0.baseAddress!,
                        ldc: n)
                }
                for i in 0..<m {
                    for j in 0..<n {
                        var one: Float = 0
                        SmallRowGEMM.multiplyAddTransposed(
                            m: 1, n: 1, k: k, a: ap.baseAddress! + i * k, lda: k, b: bp.baseAddress! + j * k, ldb: k,
                            c: &one, ldc: 1)
                        #expect(one.bitPattern == all[i * n + j].bitPattern, "[\(i)][\(j)]")
                    }
                }
            }
        }
    }

    @Test("the blocked transpose puts every element where a naive transpose does", arguments: [1, 5, 8, 9, 17])
    func transposeMatchesNaive(rows: Int) {
        for columns in [1, 3, 8, 16, 21] {
            let m = Self.values(rows * columns, seed: UInt64(rows * columns))
            var out = [Float](repeating: .nan, count: rows * columns)
            m.withUnsafeBufferPointer { mp in
                out.withUnsafeMutableBufferPointer {
                    transpose(mp.baseAddress!, rows: rows, columns: columns, into: $0.baseAddress!)
                }
            }
            for i in 0..<rows {
                for j in 0..<columns { #expect(out[j * rows + i] == m[i * columns + j]) }
            }
        }
    }
}
