import Foundation

/// Runs the built `kbd-sim` executable, as a user would, and captures what it prints.
struct KbdSimRunner {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        /// stdout parsed as one JSON object.
        func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
                throw CocoaError(.coderReadCorrupt)
            }
            return object
        }
    }

    /// The products folder holds both the test bundle and `kbd-sim`.
    static var executable: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("kbd-sim")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "kbd-sim")
    }

    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Result {
        try run(executable, arguments, environment: extra.merging(["KBD_SIM_NO_CACHE": "1"]) { given, _ in given })
    }

    /// Runs `program` with `arguments` in this process's environment, with `changes` applied
    /// (a nil value removes the variable), and captures what it prints.
    static func run(_ program: URL, _ arguments: [String], environment changes: [String: String?]) throws -> Result {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in changes { environment[k] = v }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end before waiting, so a chatty child never blocks.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A scratch folder for one test, removed when released.
final class ScratchFolder {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "kbd-sim-cli-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        return file
    }

    /// A small multi-user JSONL corpus with learnable phrases.
    func smallCorpus() -> String {
        let phrases = [
            "see you at the station", "are you coming home tonight", "call me when you get there",
            "see you at home", "i am on the way", "are you free tonight", "call me later ok",
        ]
        var lines: [String] = []
        for user in 0..<12 {
            for i in 0..<30 {
                let text = phrases[(user + i) % phrases.count]
                lines.append("{\"user\": \"user\(String(format: "%02d", user))\", \"text\": \"\(text.capitalized)!\"}")
            }
        }
        return write("small.jsonl", lines.joined(separator: "\n") + "\n")
    }
}
