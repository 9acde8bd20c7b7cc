/// A bar chart over fixed categories (e.g. the 24 hours of a day) with one bar per group
/// (run) in each category, side by side.
struct GroupedBarChart {
    /// One group's bars.
    struct Group {
        var colour: String
        /// One value per category, or nil when the group has no data (nothing is drawn).
        var values: [Double]?
        /// Tooltip text of a bar, given its category index and value.
        var barLabel: (_ category: Int, _ value: Double) -> String
    }

    var id: String
    var title: String
    /// Category labels along x, in order.
    var categories: [String]
    var xTitle: String
    var yTitle: String
    var groups: [Group] = []
    var legend: [LegendEntry] = []
    /// Shown in the plot area when no group has data.
    var emptyNote = "no data recorded yet"

    /// The chart as one `<svg>` element.
    func svg() -> String {
        let frame = ChartFrame()
        let values = groups.compactMap(\.values).flatMap { $0 }
        let yScale = NiceScale(minimum: 0, maximum: values.max() ?? 1, targetTicks: 6, integral: true)
        let band = frame.plotWidth / Double(max(1, categories.count))
        let drawn = groups.enumerated().filter { $0.element.values != nil }
        let barWidth = band * 0.8 / Double(max(1, drawn.count))
        let xTicks = categories.enumerated().map {
            ChartFrame.Tick(position: frame.plotLeft + (Double($0.offset) + 0.5) * band, label: $0.element)
        }
        var svg = frame.open(id: id, title: title, legendRows: legend.count)
        svg += frame.axes(xTicks: xTicks, yTicks: frame.yTicks(yScale), xTitle: xTitle, yTitle: yTitle, xGrid: false)
        if drawn.isEmpty { svg += frame.note(emptyNote) }
        svg += "<g class=\"bars\">"
        for (slot, (_, group)) in drawn.enumerated() {
            guard let values = group.values else { continue }
            for (category, value) in values.enumerated() where category < categories.count && value > 0 {
                let x = frame.plotLeft + Double(category) * band + band * 0.1 + Double(slot) * barWidth
                let top = frame.y(value, yScale)
                svg +=
                    "<rect x=\"\(NumberText.coordinate(x))\" y=\"\(NumberText.coordinate(top))\" width=\"\(NumberText.coordinate(barWidth))\" height=\"\(NumberText.coordinate(frame.plotBottom - top))\" fill=\"\(group.colour)\"><title>\(group.barLabel(category, value).escapedForMarkup)</title></rect>"
            }
        }
        svg += "</g>"
        svg += frame.legend(legend)
        return svg + "</svg>"
    }
}
