import Dispatch

/// The single-thread floating-point peak of this core, measured: a loop of fused
/// multiply-adds on independent `SIMD8<Float>` accumulators (one 256-bit `vfmadd` each with
/// `-target-cpu haswell`), so that "share of peak" is a ratio of two figures from one run.
///
/// Twelve accumulators keep both FMA pipes of a Zen 3 or Haswell-class core busy (latency 4
/// to 5 cycles × 2 pipes ≤ 12 chains in flight); each iteration is 12 FMAs × 8 lanes × 2
/// floating-point operations. The values stay bounded (`c ← b + c·m` with `m < 1` converges
/// to `b / (1 − m)`), so no denormals or infinities slow it down.
public enum PeakFLOPS {
    /// Independent accumulators in the loop.
    static let chains = 12
    /// Floating-point operations per loop iteration (multiply and add counted separately).
    static let flopsPerIteration = chains * 8 * 2

    /// Runs `iterations` rounds of the FMA loop from the seed state and returns the twelve
    /// accumulators summed lane-wise (the loop's result, so the compiler cannot drop it).
    @inline(never)
    static func fmaChains(iterations: Int, multiplier: Float = 0.999_9, addend: Float = 1e-4) -> SIMD8<Float> {
        let m = SIMD8<Float>(repeating: multiplier)
        let b = SIMD8<Float>(repeating: addend)
        var c0 = SIMD8<Float>(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
        var c1 = c0 + 0.01
        var c2 = c0 + 0.02
        var c3 = c0 + 0.03
        var c4 = c0 + 0.04
        var c5 = c0 + 0.05
        var c6 = c0 + 0.06
        var c7 = c0 + 0.07
        var c8 = c0 + 0.08
        var c9 = c0 + 0.09
        var c10 = c0 + 0.10
        var c11 = c0 + 0.11
        for _ in 0..<iterations {
            c0 = b.addingProduct(c0, m)
            c1 = b.addingProduct(c1, m)
            c2 = b.addingProduct(c2, m)
            c3 = b.addingProduct(c3, m)
            c4 = b.addingProduct(c4, m)
            c5 = b.addingProduct(c5, m)
            c6 = b.addingProduct(c6, m)
            c7 = b.addingProduct(c7, m)
            c8 = b.addingProduct(c8, m)
            c9 = b.addingProduct(c9, m)
            c10 = b.addingProduct(c10, m)
            c11 = b.addingProduct(c11, m)
        }
        return ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
    }

    /// Measures this thread's FMA throughput in GFLOP/s: the best of `repeats` timed runs of
    /// `iterations` loop iterations each (the machine may be shared; the best run is the
    /// least disturbed one). About 0.05 s per repeat at the default size on a 3 GHz core.
    public static func measureGFLOPS(iterations: Int = 10_000_000, repeats: Int = 5) -> Double {
        var best = Double.infinity
        var sink: Float = 0
        _ = fmaChains(iterations: iterations / 10)  // warm up the clock and the pipes
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            sink += fmaChains(iterations: iterations).sum()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, seconds)
        }
        if sink.isNaN { print("") }
        return Double(iterations) * Double(flopsPerIteration) / best / 1e9
    }
}
