internal import Foundation

/// An axis range widened to round numbers, with evenly spaced ticks at 1, 2 or 5 × 10ⁿ
/// (after Heckbert, "Nice numbers for graph labels", Graphics Gems 1990).
struct NiceScale: Equatable {
    /// The axis starts here (at or below the data's minimum).
    let lower: Double
    /// The axis ends here (at or above the data's maximum).
    let upper: Double
    /// Distance between ticks.
    let step: Double

    /// A scale covering `minimum…maximum` with about `targetTicks` ticks.
    ///
    /// - Parameter integral: ticks fall on whole numbers only (rounds, hours, devices).
    init(minimum: Double, maximum: Double, targetTicks: Int = 6, integral: Bool = false) {
        precondition(targetTicks >= 2, "a scale needs at least two ticks")
        var lo = minimum.isFinite ? minimum : 0
        var hi = maximum.isFinite ? maximum : 1
        if hi < lo { swap(&lo, &hi) }
        if hi == lo { hi = lo + (integral ? 1 : max(abs(lo), 1)) }
        // The step straight from the raw range (not from a range first widened to a nice
        // number, as in Heckbert's loose labelling), so the axis ends close to the data.
        var step = Self.nice((hi - lo) / Double(targetTicks - 1))
        if integral { step = max(1, step.rounded(.up)) }
        self.step = step
        lower = (lo / step).rounded(.down) * step
        upper = (hi / step).rounded(.up) * step
    }

    /// The tick values from ``lower`` to ``upper``.
    var ticks: [Double] {
        let count = Int(((upper - lower) / step).rounded()) + 1
        return (0..<count).map { lower + Double($0) * step }
    }

    /// Decimals that tell the ticks apart.
    var decimals: Int { step >= 1 ? 0 : Int((-log10(step)).rounded(.up)) }

    /// A tick's label.
    func label(_ value: Double) -> String {
        NumberText.fixed(abs(value) < step / 1e6 ? 0 : value, decimals: decimals)
    }

    /// The number 1, 2, 5 or 10 times a power of ten nearest to `x` (1 for `x` ≤ 0).
    static func nice(_ x: Double) -> Double {
        guard x > 0 else { return 1 }
        let exponent = log10(x).rounded(.down)
        let fraction = x / pow(10, exponent)
        let niceFraction: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        return niceFraction * pow(10, exponent)
    }
}
