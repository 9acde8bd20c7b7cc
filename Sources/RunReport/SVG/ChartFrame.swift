/// The layout every chart shares: a plot area with a grid, tick labels, axis titles
/// outside it, and the legend below the x-axis title, one entry a row, so nothing overlaps
/// however many runs there are.
struct ChartFrame {
    /// A tick: where it sits along its axis (pixels) and what it says.
    struct Tick {
        var position: Double
        var label: String
    }

    let width = 960.0
    let plotLeft = 80.0
    /// Top of the plot area, below the marker rows.
    let plotTop: Double
    let plotRight = 936.0
    let plotHeight = 290.0
    let legendRowHeight = 20.0
    /// Longest legend label drawn in full; longer ones are shortened in the middle (the full
    /// text stays in a tooltip).
    let maximumLabelLength = 120

    /// Height of one row of markers above the plot.
    static let markerRowHeight = 16.0

    /// A frame with `markerRows` rows above the plot for markers (e.g. abandoned rounds), so
    /// markers never cover data.
    init(markerRows: Int = 0) {
        plotTop = 14 + Double(markerRows) * Self.markerRowHeight
    }

    /// The baseline of marker row `row` (0 is nearest the plot).
    func markerBaseline(row: Int) -> Double { plotTop - 4 - Double(row) * Self.markerRowHeight }

    var plotWidth: Double { plotRight - plotLeft }
    var plotBottom: Double { plotTop + plotHeight }
    var legendTop: Double { plotBottom + 66 }

    /// The chart's height with `legendRows` legend rows.
    func height(legendRows: Int) -> Double { legendTop + Double(legendRows) * legendRowHeight + 6 }

    /// Maps a value of `scale` to an x pixel.
    func x(_ value: Double, _ scale: NiceScale) -> Double {
        plotLeft + (value - scale.lower) / (scale.upper - scale.lower) * plotWidth
    }

    /// Maps a value of `scale` to a y pixel (up is larger).
    func y(_ value: Double, _ scale: NiceScale) -> Double {
        plotBottom - (value - scale.lower) / (scale.upper - scale.lower) * plotHeight
    }

    /// Ticks of a numeric scale along the x axis.
    func xTicks(_ scale: NiceScale) -> [Tick] {
        scale.ticks.map { Tick(position: x($0, scale), label: scale.label($0)) }
    }

    /// Ticks of a numeric scale along the y axis.
    func yTicks(_ scale: NiceScale) -> [Tick] {
        scale.ticks.map { Tick(position: y($0, scale), label: scale.label($0)) }
    }

    /// The opening `<svg>` tag with an accessible title.
    func open(id: String, title: String, legendRows: Int) -> String {
        let h = NumberText.coordinate(height(legendRows: legendRows))
        return """
            <svg xmlns="http://www.w3.org/2000/svg" id="\(id.escapedForMarkup)" class="chart" viewBox="0 0 \(Int(width)) \(h)" \
            width="\(Int(width))" height="\(h)" role="img" aria-labelledby="\(id.escapedForMarkup)-title" \
            font-family="sans-serif" font-size="12"><title id="\(id.escapedForMarkup)-title">\(title.escapedForMarkup)</title>
            """
    }

    /// Grid lines, the axis lines, tick labels and both axis titles.
    func axes(xTicks: [Tick], yTicks: [Tick], xTitle: String, yTitle: String, xGrid: Bool = true) -> String {
        var svg = "<g class=\"grid\" stroke=\"\(Palette.grid)\" stroke-width=\"1\">"
        for t in yTicks {
            let y = NumberText.coordinate(t.position)
            svg +=
                "<line x1=\"\(NumberText.coordinate(plotLeft))\" y1=\"\(y)\" x2=\"\(NumberText.coordinate(plotRight))\" y2=\"\(y)\"/>"
        }
        if xGrid {
            for t in xTicks {
                let x = NumberText.coordinate(t.position)
                svg +=
                    "<line x1=\"\(x)\" y1=\"\(NumberText.coordinate(plotTop))\" x2=\"\(x)\" y2=\"\(NumberText.coordinate(plotBottom))\"/>"
            }
        }
        svg += "</g>"
        let left = NumberText.coordinate(plotLeft)
        let bottom = NumberText.coordinate(plotBottom)
        svg += "<g class=\"axis\" stroke=\"\(Palette.ink)\" stroke-width=\"1\">"
        svg += "<line x1=\"\(left)\" y1=\"\(NumberText.coordinate(plotTop))\" x2=\"\(left)\" y2=\"\(bottom)\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(bottom)\" x2=\"\(NumberText.coordinate(plotRight))\" y2=\"\(bottom)\"/>"
        svg += "</g><g class=\"tick-labels\" fill=\"\(Palette.ink)\">"
        for t in xTicks {
            svg +=
                "<text x=\"\(NumberText.coordinate(t.position))\" y=\"\(NumberText.coordinate(plotBottom + 17))\" text-anchor=\"middle\">\(t.label.escapedForMarkup)</text>"
        }
        for t in yTicks {
            svg +=
                "<text x=\"\(NumberText.coordinate(plotLeft - 7))\" y=\"\(NumberText.coordinate(t.position + 4))\" text-anchor=\"end\">\(t.label.escapedForMarkup)</text>"
        }
        svg += "</g>"
        let midX = NumberText.coordinate(plotLeft + plotWidth / 2)
        let midY = NumberText.coordinate(plotTop + plotHeight / 2)
        svg +=
            "<text class=\"axis-title x\" x=\"\(midX)\" y=\"\(NumberText.coordinate(plotBottom + 40))\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\" fill=\"\(Palette.ink)\">\(xTitle.escapedForMarkup)</text>"
        svg +=
            "<text class=\"axis-title y\" x=\"0\" y=\"0\" transform=\"translate(22 \(midY)) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\" fill=\"\(Palette.ink)\">\(yTitle.escapedForMarkup)</text>"
        return svg
    }

    /// A note centred in the plot area (e.g. "no evaluation recorded yet").
    func note(_ text: String) -> String {
        "<text class=\"note\" x=\"\(NumberText.coordinate(plotLeft + plotWidth / 2))\" y=\"\(NumberText.coordinate(plotTop + plotHeight / 2))\" text-anchor=\"middle\" font-size=\"14\" fill=\"#777777\">\(text.escapedForMarkup)</text>"
    }

    /// The legend, one entry a row below the x-axis title.
    func legend(_ entries: [LegendEntry]) -> String {
        var svg = "<g class=\"legend\">"
        for (row, entry) in entries.enumerated() {
            let y = legendTop + Double(row) * legendRowHeight
            let sampleLeft = plotLeft
            let mid = NumberText.coordinate(y - 4)
            switch entry.sample {
            case .line(let dash):
                let dashAttribute = dash.dashArray.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                svg +=
                    "<line x1=\"\(NumberText.coordinate(sampleLeft))\" y1=\"\(mid)\" x2=\"\(NumberText.coordinate(sampleLeft + 34))\" y2=\"\(mid)\" stroke=\"\(entry.colour)\" stroke-width=\"2.5\"\(dashAttribute)/>"
            case .bar:
                svg +=
                    "<rect x=\"\(NumberText.coordinate(sampleLeft + 8))\" y=\"\(NumberText.coordinate(y - 11))\" width=\"18\" height=\"12\" fill=\"\(entry.colour)\"/>"
            case .marker(let symbol):
                svg +=
                    "<text x=\"\(NumberText.coordinate(sampleLeft + 17))\" y=\"\(NumberText.coordinate(y))\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\" fill=\"\(entry.colour)\">\(symbol.escapedForMarkup)</text>"
            }
            svg +=
                "<text class=\"legend-label\" x=\"\(NumberText.coordinate(sampleLeft + 44))\" y=\"\(NumberText.coordinate(y))\" fill=\"\(Palette.ink)\">"
            svg += "<title>\(entry.label.escapedForMarkup)</title>\(shortened(entry.label).escapedForMarkup)</text>"
        }
        return svg + "</g>"
    }

    private func shortened(_ label: String) -> String {
        guard label.count > maximumLabelLength else { return label }
        let keep = (maximumLabelLength - 1) / 2
        return String(label.prefix(keep)) + "…" + String(label.suffix(keep))
    }
}
