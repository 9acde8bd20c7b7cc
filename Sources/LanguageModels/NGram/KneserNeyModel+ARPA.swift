internal import Foundation
import KeyboardCorpus

/// ARPA text format (the format SRILM, KenLM and most n-gram toolkits read and write).
///
/// Export writes every n-gram's log10 probability and, for n-grams that are contexts of
/// the next order, their log10 backoff weight, with numbers printed in the shortest form
/// that reads back to the same `Double`; import therefore restores identical predictions
/// and perplexity. Unigrams are written in id order (`<unk> <s> </s>`, then words by
/// vocabulary rank) and an imported file's vocabulary ranks follow its unigram order, so
/// ties break the same way after a round trip.
extension KneserNeyModel {
    /// The model as ARPA text.
    public func arpaText() -> String {
        var out = "\\data\\\n"
        for n in 1...order { out += "ngram \(n)=\(levels[n - 1].keys.count)\n" }
        for n in 1...order {
            out += "\n\\\(n)-grams:\n"
            let level = levels[n - 1]
            let next = n < order ? levels[n] : nil
            for (e, key) in level.keys.enumerated() {
                let words = key.ids(length: n).map { vocabulary.symbol(for: $0) }.joined(separator: " ")
                var line = "\(Self.number(level.logProb[e]))\t\(words)"
                if let next, let c = next.contexts.binarySearch(key) {
                    line += "\t\(Self.number(next.contextLogBackoff[c]))"
                }
                out += line + "\n"
            }
        }
        out += "\n\\end\\\n"
        return out
    }

    /// Writes the model as an ARPA file.
    public func writeARPA(to path: String) throws {
        do {
            try arpaText().write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw LanguageModelError(
                .unreadable, "cannot write the ARPA file (\(error.localizedDescription))", path: path, cause: error)
        }
    }

    /// Reads an ARPA file.
    ///
    /// - Throws: ``LanguageModelError`` naming the line for a bad header, a truncated or
    ///   missing section, a malformed line or a word missing from the unigrams.
    public init(arpaFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw LanguageModelError(
                .unreadable, exists ? "the ARPA file cannot be read (check permissions)" : "no such model file",
                path: path)
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw LanguageModelError(.malformedLine, "the ARPA file is not valid UTF-8", path: path)
        }
        try self.init(arpaText: text, path: path)
    }

    /// Parses ARPA text; `path` only labels errors.
    public init(arpaText text: String, path: String = "<arpa>") throws {
        var parser = ARPAParser(
            lines: text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }),
            path: path)
        let declared = try parser.readHeader()
        let order = declared.count
        guard (1...NGramKey.maximumLength).contains(order) else {
            throw LanguageModelError(
                .invalidOrder, "the ARPA file declares order \(order); kbd-sim reads orders 1…5", path: path)
        }
        // Unigrams define the vocabulary: specials at their fixed ids, words in file order.
        let unigrams = try parser.readSection(order: 1, expected: declared[0])
        var words: [String] = []
        var special: [String: Int32] = [:]
        for s in SpecialToken.allCases where s != .pad { special[s.symbol] = s.rawValue }
        for entry in unigrams where special[entry.words[0]] == nil { words.append(entry.words[0]) }
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(words: words) } catch {
            throw LanguageModelError(
                .malformedLine, "the unigram section lists a word twice or an empty word", path: path, cause: error)
        }
        func id(_ word: String, line: Int) throws -> Int32 {
            if let s = special[word] { return s }
            guard let id = vocabulary.getID(of: word) else {
                throw LanguageModelError(
                    .unknownWord, "an n-gram uses a word that is not among the unigrams", path: path, line: line)
            }
            return id
        }
        // Order 1 holds every id but <pad>; ids missing from the file get log10 p = −99.
        var uni = NGramLevel()
        uni.logProb = [Double](repeating: -99, count: vocabulary.count - 1)
        var backoffByKey: [[NGramKey: Double]] = Array(repeating: [:], count: order)
        for entry in unigrams {
            let w = try id(entry.words[0], line: entry.line)
            uni.logProb[Int(w) - 1] = entry.logProb
            if let b = entry.backoff { backoffByKey[0][NGramKey([w])] = b }
        }
        uni.keys = (1..<vocabulary.count).map { NGramKey([Int32($0)]) }
        var levels = [uni]
        if order >= 2 {
            for n in 2...order {
                let entries = try parser.readSection(order: n, expected: declared[n - 1])
                var pairs: [(NGramKey, Double)] = []
                pairs.reserveCapacity(entries.count)
                for entry in entries {
                    let key = NGramKey(try entry.words.map { try id($0, line: entry.line) })
                    pairs.append((key, entry.logProb))
                    if let b = entry.backoff { backoffByKey[n - 1][key] = b }
                }
                pairs.sort { $0.0 < $1.0 }
                var level = NGramLevel()
                level.keys = pairs.map(\.0)
                level.logProb = pairs.map(\.1)
                levels.append(level)
            }
        }
        try parser.readEnd()
        levels[0].contextLogBackoff = [0]
        for n in 1...order {
            levels[n - 1].index(length: n)
            if n >= 2 {
                levels[n - 1].contextLogBackoff = levels[n - 1].contexts.map { backoffByKey[n - 2][$0] ?? 0 }
            }
        }
        // The unigram context's own weight is unused by scoring; keep the empty context's 0.
        self.init(order: order, vocabulary: vocabulary, levels: levels)
    }

    /// Shortest round-trip decimal for a log10 value; −∞ is written as ARPA's −99.
    static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "-99" }
}

/// A line-oriented reader of ARPA sections with precise errors.
struct ARPAParser {
    struct Entry {
        var logProb: Double
        var words: [String]
        var backoff: Double?
        var line: Int
    }

    let lines: [Substring]
    let path: String
    var index = 0

    init(lines: [Substring], path: String) {
        self.lines = lines
        self.path = path
    }

    private func trimmed(_ i: Int) -> Substring {
        var s = lines[i]
        while let l = s.last, l == "\r" || l == " " || l == "\t" { s.removeLast() }
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        return s
    }

    private mutating func skipBlank() {
        while index < lines.count && trimmed(index).isEmpty { index += 1 }
    }

    /// Reads `\data\` and the `ngram N=count` lines; returns the counts by order.
    mutating func readHeader() throws -> [Int] {
        skipBlank()
        guard index < lines.count, trimmed(index) == "\\data\\" else {
            throw LanguageModelError(
                .badHeader, "an ARPA file starts with a \\data\\ line", path: path, line: index + 1)
        }
        index += 1
        var counts: [Int] = []
        while index < lines.count {
            let line = trimmed(index)
            if line.isEmpty {
                index += 1
                continue
            }
            guard line.hasPrefix("ngram ") else { break }
            let parts = line.dropFirst(6).split(separator: "=")
            guard parts.count == 2, let n = Int(parts[0].trimmingCharacters(in: .whitespaces)),
                let c = Int(parts[1].trimmingCharacters(in: .whitespaces)), n == counts.count + 1, c >= 0
            else {
                throw LanguageModelError(
                    .badHeader, "expected 'ngram \(counts.count + 1)=COUNT' in the \\data\\ header", path: path,
                    line: index + 1)
            }
            counts.append(c)
            index += 1
        }
        guard !counts.isEmpty else {
            throw LanguageModelError(
                .badHeader, "the \\data\\ header declares no 'ngram N=COUNT' line", path: path, line: index + 1)
        }
        return counts
    }

    /// Reads the `\n-grams:` section and exactly `expected` entries.
    mutating func readSection(order n: Int, expected: Int) throws -> [Entry] {
        skipBlank()
        guard index < lines.count else {
            throw LanguageModelError(
                .truncated, "the file ends before the \\\(n)-grams: section", path: path, line: index + 1)
        }
        guard trimmed(index) == "\\\(n)-grams:" else {
            throw LanguageModelError(
                .malformedLine, "expected the \\\(n)-grams: section header", path: path, line: index + 1)
        }
        index += 1
        var entries: [Entry] = []
        entries.reserveCapacity(expected)
        while entries.count < expected {
            guard index < lines.count else {
                throw LanguageModelError(
                    .truncated,
                    "the \\\(n)-grams: section ends after \(entries.count) of the \(expected) entries its header declares; the file is truncated",
                    path: path, line: index + 1)
            }
            let line = trimmed(index)
            if line.isEmpty || line.hasPrefix("\\") {
                throw LanguageModelError(
                    .truncated,
                    "the \\\(n)-grams: section holds \(entries.count) entries, its header declares \(expected)",
                    path: path, line: index + 1)
            }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == n + 1 || fields.count == n + 2, let logProb = Double(fields[0]), !logProb.isNaN else {
                throw LanguageModelError(
                    .malformedLine, "an \(n)-gram line needs LOG10PROB, \(n) word(s) and an optional BACKOFF",
                    path: path, line: index + 1)
            }
            var backoff: Double?
            if fields.count == n + 2 {
                guard let b = Double(fields[n + 1]), b.isFinite else {
                    throw LanguageModelError(
                        .malformedLine, "the backoff weight is not a finite number", path: path, line: index + 1)
                }
                backoff = b
            }
            entries.append(
                Entry(logProb: logProb, words: fields[1...n].map(String.init), backoff: backoff, line: index + 1))
            index += 1
        }
        return entries
    }

    mutating func readEnd() throws {
        skipBlank()
        guard index < lines.count, trimmed(index) == "\\end\\" else {
            throw LanguageModelError(
                .truncated, "expected \\end\\ after the last section; the file is truncated or has extra entries",
                path: path, line: index + 1)
        }
    }
}
