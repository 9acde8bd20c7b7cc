/// A line chart: numeric x and y axes starting at zero, lines with a dot at every point (so
/// a one-round run still shows), optional markers along the top edge, and a legend.
struct LineChart {
    /// One line.
    struct Series {
        var colour: String
        var dash: LineDash
        /// Stroke width in pixels; earlier runs are drawn wider so a later run with the same
        /// figures leaves them visible as a coloured edge instead of hiding them.
        var width = 2.0
        /// Points in x order.
        var points: [(x: Double, y: Double)]
        /// Tooltip text of each point, e.g. `run 2, round 5: acc@1 12.5 %`.
        var pointLabel: (_ x: Double, _ y: Double) -> String
    }

    /// A symbol drawn at `x` above the plot (e.g. an abandoned round), in its own row so
    /// the markers of different runs at the same x stay visible.
    struct Marker {
        var x: Double
        var row: Int
        var colour: String
        var symbol: String
        var tooltip: String
    }

    var id: String
    var title: String
    var xTitle: String
    var yTitle: String
    /// Ticks on whole numbers only along x (rounds).
    var xIntegral = false
    /// Ticks on whole numbers only along y (device counts).
    var yIntegral = false
    var series: [Series] = []
    var markers: [Marker] = []
    var legend: [LegendEntry] = []
    /// Shown in the plot area when there is not a single point.
    var emptyNote = "no data recorded yet"

    /// The chart as one `<svg>` element.
    func svg() -> String {
        let frame = ChartFrame(markerRows: (markers.map(\.row).max() ?? -1) + 1)
        let xs = series.flatMap { $0.points.map(\.x) } + markers.map(\.x)
        let ys = series.flatMap { $0.points.map(\.y) }
        let xScale = NiceScale(minimum: 0, maximum: xs.max() ?? 1, targetTicks: 8, integral: xIntegral)
        let yScale = NiceScale(minimum: 0, maximum: ys.max() ?? 1, targetTicks: 6, integral: yIntegral)
        var svg = frame.open(id: id, title: title, legendRows: legend.count)
        svg += frame.axes(xTicks: frame.xTicks(xScale), yTicks: frame.yTicks(yScale), xTitle: xTitle, yTitle: yTitle)
        if ys.isEmpty && markers.isEmpty { svg += frame.note(emptyNote) }
        svg += "<g class=\"series\" fill=\"none\" stroke-width=\"2\">"
        for s in series where !s.points.isEmpty {
            let path = s.points.map {
                "\(NumberText.coordinate(frame.x($0.x, xScale))),\(NumberText.coordinate(frame.y($0.y, yScale)))"
            }
            let dash = s.dash.dashArray.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            if path.count > 1 {
                svg +=
                    "<polyline points=\"\(path.joined(separator: " "))\" stroke=\"\(s.colour)\" stroke-width=\"\(NumberText.coordinate(s.width))\"\(dash)/>"
            }
            for p in s.points {
                svg +=
                    "<circle cx=\"\(NumberText.coordinate(frame.x(p.x, xScale)))\" cy=\"\(NumberText.coordinate(frame.y(p.y, yScale)))\" r=\"\(NumberText.coordinate(s.width / 2 + 1.5))\" fill=\"\(s.colour)\" stroke=\"none\"><title>\(s.pointLabel(p.x, p.y).escapedForMarkup)</title></circle>"
            }
        }
        svg += "</g><g class=\"markers\" font-size=\"14\" font-weight=\"bold\" text-anchor=\"middle\">"
        for m in markers {
            svg +=
                "<text x=\"\(NumberText.coordinate(frame.x(m.x, xScale)))\" y=\"\(NumberText.coordinate(frame.markerBaseline(row: m.row)))\" fill=\"\(m.colour)\"><title>\(m.tooltip.escapedForMarkup)</title>\(m.symbol.escapedForMarkup)</text>"
        }
        svg += "</g>"
        svg += frame.legend(legend)
        return svg + "</svg>"
    }
}
