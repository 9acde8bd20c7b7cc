import Foundation

/// An in-place iterative radix-2 complex FFT on split real and imaginary arrays of Double,
/// for the privacy-loss convolutions (`DiscretePLD.selfComposed`). The length is a power of 2.
struct FFT {
    let count: Int
    /// e^(−2πik/N) for k < N/2, as cosines and sines.
    private let cosines: [Double]
    private let sines: [Double]

    init(count: Int) {
        precondition(count >= 1 && count & (count - 1) == 0, "FFT length must be a power of 2 (got \(count))")
        self.count = count
        let half = Swift.max(count / 2, 1)
        var c = [Double](repeating: 1, count: half)
        var s = [Double](repeating: 0, count: half)
        for k in 0..<half {
            let angle = -2 * Double.pi * Double(k) / Double(count)
            c[k] = Foundation.cos(angle)
            s[k] = Foundation.sin(angle)
        }
        cosines = c
        sines = s
    }

    /// The smallest power of 2 at least `n`.
    static func length(atLeast n: Int) -> Int {
        var size = 1
        while size < n { size <<= 1 }
        return size
    }

    /// X_k = Σ_j x_j e^(∓2πijk/N): forward (−) or, with `inverse`, the inverse transform (+),
    /// divided by N so that inverse(forward(x)) = x.
    func transform(real: inout [Double], imaginary: inout [Double], inverse: Bool = false) {
        let n = count
        precondition(real.count == n && imaginary.count == n, "FFT arrays must have the plan's length \(n)")
        if n == 1 { return }
        // Bit-reversal permutation.
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 {
                j ^= bit
                bit >>= 1
            }
            j |= bit
            if i < j {
                real.swapAt(i, j)
                imaginary.swapAt(i, j)
            }
        }
        let sign: Double = inverse ? -1 : 1
        real.withUnsafeMutableBufferPointer { re in
            imaginary.withUnsafeMutableBufferPointer { im in
                cosines.withUnsafeBufferPointer { cw in
                    sines.withUnsafeBufferPointer { sw in
                        var length = 2
                        while length <= n {
                            let halfLength = length / 2
                            let stride = n / length
                            var start = 0
                            while start < n {
                                for k in 0..<halfLength {
                                    let wr = cw[k * stride]
                                    let wi = sign * sw[k * stride]
                                    let a = start + k
                                    let b = a + halfLength
                                    let tr = re[b] * wr - im[b] * wi
                                    let ti = re[b] * wi + im[b] * wr
                                    re[b] = re[a] - tr
                                    im[b] = im[a] - ti
                                    re[a] += tr
                                    im[a] += ti
                                }
                                start += length
                            }
                            length <<= 1
                        }
                        if inverse {
                            let scale = 1 / Double(n)
                            for i in 0..<n {
                                re[i] *= scale
                                im[i] *= scale
                            }
                        }
                    }
                }
            }
        }
    }
}
