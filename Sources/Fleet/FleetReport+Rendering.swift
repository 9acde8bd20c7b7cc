extension FleetReport {
    /// The CSV columns, in order.
    public static let csvHeader =
        "hour_utc,day,hour_of_day,eligible,eligible_fraction,check_ins,rounds,selected,reported,dropped,stragglers,surplus,abandoned_rounds"

    /// The hourly table as CSV (header line, one row per hour, `\n` line ends).
    public func csv() -> String {
        var out = Self.csvHeader + "\n"
        for h in hours {
            let fraction = Double(h.eligible) / Double(max(devices, 1))
            out +=
                "\(h.hour),\(h.hour / 24),\(h.hour % 24),\(h.eligible),\(format(fraction, 6)),\(h.checkIns),\(h.rounds),\(h.selected),\(h.reported),\(h.dropped),\(h.stragglers),\(h.surplus),\(h.abandonedRounds)\n"
        }
        return out
    }

    /// The report as JSON: totals, the fractions by hour of day, and the hourly rows.
    public func json() -> String {
        func list(_ xs: [Double]) -> String { "[" + xs.map { format($0, 6) }.joined(separator: ", ") + "]" }
        let rows = hours.map { h in
            "    {\"hour\": \(h.hour), \"eligible\": \(h.eligible), \"checkIns\": \(h.checkIns), \"rounds\": \(h.rounds), \"selected\": \(h.selected), \"reported\": \(h.reported), \"dropped\": \(h.dropped), \"stragglers\": \(h.stragglers), \"surplus\": \(h.surplus), \"abandonedRounds\": \(h.abandonedRounds)}"
        }
        return """
            {
              "devices": \(devices),
              "rounds": \(total(\.rounds)),
              "selected": \(total(\.selected)),
              "reported": \(total(\.reported)),
              "dropped": \(total(\.dropped)),
              "stragglers": \(total(\.stragglers)),
              "surplus": \(total(\.surplus)),
              "abandonedRounds": \(total(\.abandonedRounds)),
              "eligibleFractionByLocalHour": \(list(eligibleFractionByLocalHour)),
              "eligibleFractionByUTCHour": \(list(eligibleFractionByUTCHour)),
              "hours": [
            \(rows.joined(separator: ",\n"))
              ]
            }

            """
    }

    /// A self-contained SVG line chart: eligible fraction (%) by local hour and by UTC hour.
    public func svg(title: String = "Eligible devices by hour of day") -> String {
        let width = 720.0
        let height = 420.0
        let left = 70.0
        let right = 170.0
        let top = 50.0
        let bottom = 60.0
        let plotW = width - left - right
        let plotH = height - top - bottom
        let peak = max((eligibleFractionByLocalHour + eligibleFractionByUTCHour).max() ?? 0, 1e-9) * 100
        let step = niceStep(peak / 5)
        let yMax = (peak / step).rounded(.up) * step
        func x(_ hour: Double) -> Double { left + plotW * hour / 23 }
        func y(_ percent: Double) -> Double { top + plotH * (1 - percent / yMax) }
        func path(_ series: [Double]) -> String {
            series.enumerated().map { i, f in "\(i == 0 ? "M" : "L")\(format(x(Double(i)), 1)),\(format(y(f * 100), 1))"
            }.joined(separator: " ")
        }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="24" text-anchor="middle" font-size="15">\(escape(title)) (\(thousands(devices)) devices)</text>

            """
        var tick = 0.0
        while tick <= yMax + step / 2 {
            s +=
                "<line x1=\"\(format(left, 1))\" y1=\"\(format(y(tick), 1))\" x2=\"\(format(left + plotW, 1))\" y2=\"\(format(y(tick), 1))\" stroke=\"#ddd\"/>\n"
            s +=
                "<text x=\"\(format(left - 8, 1))\" y=\"\(format(y(tick) + 4, 1))\" text-anchor=\"end\">\(format(tick, step < 1 ? 1 : 0))</text>\n"
            tick += step
        }
        for hour in stride(from: 0, through: 23, by: 3) {
            s +=
                "<line x1=\"\(format(x(Double(hour)), 1))\" y1=\"\(format(top + plotH, 1))\" x2=\"\(format(x(Double(hour)), 1))\" y2=\"\(format(top + plotH + 5, 1))\" stroke=\"black\"/>\n"
            s +=
                "<text x=\"\(format(x(Double(hour)), 1))\" y=\"\(format(top + plotH + 20, 1))\" text-anchor=\"middle\">\(hour):00</text>\n"
        }
        s += """
            <line x1="\(left)" y1="\(top + plotH)" x2="\(left + plotW)" y2="\(top + plotH)" stroke="black"/>
            <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(top + plotH)" stroke="black"/>
            <text x="\(format(left + plotW / 2, 1))" y="\(format(height - 15, 1))" text-anchor="middle">hour of day (h)</text>
            <text transform="translate(20,\(format(top + plotH / 2, 1))) rotate(-90)" text-anchor="middle">eligible devices (% of population)</text>
            <path d="\(path(eligibleFractionByLocalHour))" fill="none" stroke="#1f77b4" stroke-width="2.5"/>
            <path d="\(path(eligibleFractionByUTCHour))" fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="6 4"/>
            <line x1="\(left + plotW + 15)" y1="\(top + 10)" x2="\(left + plotW + 45)" y2="\(top + 10)" stroke="#1f77b4" stroke-width="2.5"/>
            <text x="\(left + plotW + 50)" y="\(top + 14)">device's local hour</text>
            <line x1="\(left + plotW + 15)" y1="\(top + 32)" x2="\(left + plotW + 45)" y2="\(top + 32)" stroke="#d62728" stroke-width="2" stroke-dasharray="6 4"/>
            <text x="\(left + plotW + 50)" y="\(top + 36)">UTC hour</text>
            </svg>

            """
        return s
    }

    private func niceStep(_ raw: Double) -> Double {
        let magnitude = pow10(floorLog10(raw))
        for m in [1.0, 2.0, 5.0, 10.0] where raw <= m * magnitude { return m * magnitude }
        return 10 * magnitude
    }

    private func floorLog10(_ v: Double) -> Int {
        var e = 0
        var x = v
        while x >= 10 {
            x /= 10
            e += 1
        }
        while x < 1, e > -12 {
            x *= 10
            e -= 1
        }
        return e
    }

    private func pow10(_ e: Int) -> Double {
        var r = 1.0
        if e >= 0 { for _ in 0..<e { r *= 10 } } else { for _ in 0..<(-e) { r /= 10 } }
        return r
    }

    private func escape(_ text: String) -> String {
        text.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;")
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// `value` with `digits` decimals, without Foundation.
func format(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard digits > 0 else { return sign + String(whole) }
    let f = String(fraction)
    return sign + String(whole) + "." + String(repeating: "0", count: digits - f.count) + f
}

/// `1000000` as `1,000,000`.
func thousands(_ n: Int) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 && c != "-" { out.append(",") }
        out.append(c)
    }
    return out
}
