internal import Foundation

/// A plain-text table for a command's summary, with its JSON twin.
///
/// Columns are named once; the same names are the keys of `--json` output, so a script
/// reads `acc@1` where a person reads `acc@1`.
struct SummaryTable {
    var columns: [String]
    var rows: [[String]] = []

    init(columns: [String]) { self.columns = columns }

    mutating func append(_ row: [String]) {
        precondition(row.count == columns.count, "row has \(row.count) cells, table has \(columns.count) columns")
        rows.append(row)
    }

    /// The table, columns padded, numbers right-aligned.
    func render() -> String {
        var widths = columns.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                let numeric =
                    Double(cell.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "%", with: "")) != nil
                return numeric ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        var out = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        return out.joined(separator: "\n")
    }
}

/// Writes one JSON document to stdout.
func printJSON(_ object: Any) {
    let data =
        (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}

/// Writes a progress or status line to stderr, so stdout stays one document with --json.
func status(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func fixed(_ value: Double, digits: Int = 4) -> String { String(format: "%.\(digits)f", value) }

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

/// Seconds since an arbitrary origin, for phase timings.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
