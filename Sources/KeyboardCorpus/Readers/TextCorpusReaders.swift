internal import Foundation

/// Plain text: one message per line. A file is one user (named after the file); a
/// directory holds one file per user.
struct PlainTextReader {
    let path: String

    func read(fileText text: String, user: String, into builder: inout TokenizedCorpusBuilder) {
        for line in text.fileLines() {
            let message = line.hasSuffix("\r") ? line.dropLast() : line
            builder.appendMessage(user: user, text: String(message))
        }
    }
}

/// Tab-separated text with a user column: `USER<TAB>MESSAGE` on every line.
struct TSVReader {
    let path: String

    func read(text: String) throws -> TokenizedCorpus {
        var builder = TokenizedCorpusBuilder(format: "tsv", source: path)
        var lineNumber = 0
        for rawLine in text.fileLines() {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty { continue }
            guard let tab = line.firstIndex(of: "\t") else {
                throw CorpusError(
                    .malformedRecord,
                    "line \(lineNumber) has no tab; a user-column file needs USER<TAB>MESSAGE on every line",
                    path: path, location: lineNumber)
            }
            let user = line[..<tab]
            guard !user.isEmpty else {
                throw CorpusError(
                    .malformedRecord, "line \(lineNumber) has an empty user column", path: path, location: lineNumber)
            }
            builder.appendMessage(user: String(user), text: String(line[line.index(after: tab)...]))
        }
        return builder.build()
    }
}

/// JSON Lines: one object per line with a `user` (string or integer) and a `text` string.
struct JSONLReader {
    let path: String

    func read(text: String) throws -> TokenizedCorpus {
        var builder = TokenizedCorpusBuilder(format: "jsonl", source: path)
        var lineNumber = 0
        for rawLine in text.fileLines() {
            lineNumber += 1
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty { continue }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
            } catch {
                throw CorpusError(
                    .malformedRecord,
                    "line \(lineNumber) is not valid JSON; each line must be an object like {\"user\": \"u1\", \"text\": \"…\"}",
                    path: path, location: lineNumber)
            }
            guard let record = object as? [String: Any] else {
                throw CorpusError(
                    .malformedRecord,
                    "line \(lineNumber) is JSON but not an object; expected {\"user\": …, \"text\": …}", path: path,
                    location: lineNumber)
            }
            let user: String
            switch record["user"] {
            case let s as String where !s.isEmpty: user = s
            case let n as NSNumber where !(n is Bool) && n.doubleValue == n.doubleValue.rounded():
                user = String(n.int64Value)
            default:
                throw CorpusError(
                    .malformedRecord, "line \(lineNumber) has no usable \"user\" (a non-empty string or an integer)",
                    path: path, location: lineNumber)
            }
            guard let message = record["text"] as? String else {
                throw CorpusError(
                    .malformedRecord, "line \(lineNumber) has no \"text\" string", path: path, location: lineNumber)
            }
            builder.appendMessage(user: user, text: message)
        }
        return builder.build()
    }
}

extension String {
    /// The lines of a text file: split at LF or CRLF (a single `Character` in Swift, which a
    /// plain split on `"\n"` would miss), with a stray trailing CR removed.
    func fileLines() -> [Substring] {
        split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
    }
}
