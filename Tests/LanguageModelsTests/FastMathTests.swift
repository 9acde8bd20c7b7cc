import Foundation
import Testing

@testable import LanguageModels

struct FastMathTests {
    @Test("vectorized exp, sigmoid and tanh match libm", arguments: [1, 15, 16, 17, 100])
    func matchesLibm(count: Int) {
        let xs = (0..<count).map { Float($0) / Float(max(count - 1, 1)) * 40 - 20 }
        var s = xs
        var t = xs
        s.withUnsafeMutableBufferPointer { FastMath.sigmoid($0.baseAddress!, count: count) }
        t.withUnsafeMutableBufferPointer { FastMath.tanh($0.baseAddress!, count: count) }
        for i in 0..<count {
            let x = Double(xs[i])
            #expect(abs(Double(s[i]) - 1 / (1 + Foundation.exp(-x))) <= 3e-7)
            #expect(abs(Double(t[i]) - Foundation.tanh(x)) <= 3e-7)
        }
        for x: Float in [-87, -10, -1, -1e-3, 0, 1e-3, 1, 10, 80] {
            let e = FastMath.exp(SIMD16(repeating: x))[0]
            #expect(abs(Double(e) - Foundation.exp(Double(x))) <= 3e-7 * Foundation.exp(Double(x)))
        }
    }

    @Test("softmax excludes <pad> and <s> and normalizes", arguments: [5, 16, 33, 10004])
    func softmax(count: Int) {
        var row = (0..<count).map { Float(($0 * 7919) % 13) * 0.7 - 3 }
        let ref = row.map(Double.init)
        let lse = row.withUnsafeMutableBufferPointer { Float.softmaxExcludingPadAndBOS($0.baseAddress!, count: count) }
        let m = ref.enumerated().filter { $0.offset != 0 && $0.offset != 2 }.map(\.element).max()!
        let refLSE =
            m
            + Foundation.log(
                ref.enumerated().filter { $0.offset != 0 && $0.offset != 2 }.map { Foundation.exp($0.element - m) }
                    .reduce(0, +))
        #expect(abs(Double(lse) - refLSE) < 1e-5)
        #expect(row[0] == 0 && row[2] == 0)
        #expect(abs(row.reduce(0, +) - 1) < 1e-4)
    }
}
