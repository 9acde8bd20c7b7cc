/// How a line is stroked: runs differ by colour, the quantities of one run by dash.
enum LineDash: Sendable, Equatable {
    case solid, dashed, dotted

    /// The `stroke-dasharray` value, or nil for a solid line.
    var dashArray: String? {
        switch self {
        case .solid: nil
        case .dashed: "7 4"
        case .dotted: "2 3"
        }
    }
}

/// The Okabe–Ito palette (Okabe & Ito 2008), distinguishable with the common colour-vision
/// deficiencies; yellow comes last because it is faint on white.
enum Palette {
    static let colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    /// The colour of the `index`-th run (cycling after eight).
    static func colour(_ index: Int) -> String { colours[index % colours.count] }

    /// Neutral ink for axes, style keys and notes.
    static let ink = "#333333"
    static let grid = "#e3e3e3"
}

/// One entry of a chart's legend: a line sample (or a marker) and its label.
struct LegendEntry: Sendable, Equatable {
    enum Sample: Sendable, Equatable {
        case line(LineDash)
        case bar
        case marker(String)
    }

    var label: String
    var colour: String
    var sample: Sample
}
