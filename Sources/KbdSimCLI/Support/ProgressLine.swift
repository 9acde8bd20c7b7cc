internal import Foundation

/// Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise.
///
/// stdout stays free for the summary table or the `--json` document.
final class ProgressLine: @unchecked Sendable {  // driven from one task at a time
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastDraw = 0.0
    private var drewBar = false
    private let plainInterval: Double

    init(plainInterval: Double = 5) { self.plainInterval = plainInterval }

    /// Updates the progress: `fraction` in 0…1 and a short status text.
    func update(_ fraction: Double, _ text: String) {
        let t = now()
        if isTerminal {
            guard t - lastDraw >= 0.1 || fraction >= 1 else { return }
            let width = 28
            let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(
                Data("\r\u{1B}[2K\(bar) \(String(format: "%3.0f", fraction * 100))% \(text)".utf8))
            drewBar = true
        } else {
            guard t - lastDraw >= plainInterval else { return }
            status("\(String(format: "%3.0f", fraction * 100))% \(text)")
        }
        lastDraw = t
    }

    /// Ends the bar's line (on a terminal) and prints a plain line.
    func finish(_ line: String) {
        if isTerminal && drewBar { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        drewBar = false
        status(line)
        lastDraw = 0
    }
}
