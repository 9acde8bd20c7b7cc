internal import Foundation

extension String {
    /// The string with `&`, `<`, `>`, `"` and `'` replaced by character references, safe as
    /// HTML or SVG text and inside a quoted attribute.
    var escapedForMarkup: String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// Formats coordinates and labels for SVG and HTML.
enum NumberText {
    /// A coordinate with at most two decimals (sub-pixel precision is invisible).
    static func coordinate(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        return String(format: "%.2f", rounded)
    }

    /// `value` with `decimals` digits after the point.
    static func fixed(_ value: Double, decimals: Int) -> String {
        String(format: "%.\(max(0, decimals))f", value)
    }
}
