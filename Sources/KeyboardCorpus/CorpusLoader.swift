internal import Foundation

/// Reads a corpus file (or folder) into a ``TokenizedCorpus``, detecting its format and
/// caching the tokenized result; `synthetic` or `synthetic:SPEC` generates one instead.
///
/// Detection, unless a format is forced: a folder is ``CorpusFormat/text`` (one user per
/// `.txt` file); a zip (by its magic bytes) or an XML document is ``CorpusFormat/nusSMS``;
/// `.jsonl`/`.ndjson`, or a file starting with `{`, is ``CorpusFormat/jsonl``; `.tsv` is
/// ``CorpusFormat/tsv``; a text file whose first line is `NAME:` is
/// ``CorpusFormat/shakespeare``; anything else is one user's plain text.
public struct CorpusLoader: Sendable {
    /// Whether to read and write the tokenized-corpus cache.
    public var usesCache: Bool
    /// Where cache files live.
    public var cacheDirectory: String

    public init(usesCache: Bool = true, cacheDirectory: String? = nil) {
        self.usesCache = usesCache && ProcessInfo.processInfo.environment["KBD_SIM_NO_CACHE"] == nil
        self.cacheDirectory = cacheDirectory ?? CorpusCache.defaultDirectory
    }

    /// Loads the corpus at `path`.
    ///
    /// - Parameters:
    ///   - path: a file or a folder of `.txt` files.
    ///   - format: forces a format instead of detecting it.
    /// - Throws: ``CorpusError`` naming the file, the record and what to fix.
    public func load(path: String, format: CorpusFormat? = nil) throws -> TokenizedCorpus {
        // `synthetic` (the built-in spec) or `synthetic:SPEC.json`: generated, never cached
        // (regenerating is deterministic and about as fast as reading a cache).
        if let spec = try SyntheticSpec.resolve(corpusArgument: path) {
            return try SyntheticCorpus(spec: spec).materialize(source: path)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CorpusError(
                .fileNotFound,
                "no such file or folder; pass a corpus file (NUS SMS zip or XML, .txt, .tsv, .jsonl) or synthetic[:SPEC]",
                path: path)
        }
        if isDirectory.boolValue {
            if let format, format != .text {
                throw CorpusError(
                    .unknownFormat,
                    "a folder can only be read as --format text (one user per .txt file), not \(format.rawValue)",
                    path: path)
            }
            return try cached(key: try directoryKey(path)) { try readDirectory(path) }
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
        let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let key = "file|\(format?.rawValue ?? "auto")|\(absolute)|\(size)|\(modified)|\(NWPTokenizer.metricVersion)"
        return try cached(key: key) {
            let bytes = try readBytes(path)
            return try read(bytes: bytes, path: path, format: format ?? detect(bytes: bytes, path: path))
        }
    }

    /// Parses bytes already in memory as `format`.
    public func read(bytes: [UInt8], path: String, format: CorpusFormat) throws -> TokenizedCorpus {
        switch format {
        case .nusSMS:
            if ZipArchive.looksLikeZip(bytes) {
                let archive = try ZipArchive(bytes: bytes, path: path)
                guard let member = archive.entries.first(where: { $0.name.lowercased().hasSuffix(".xml") }) else {
                    throw CorpusError(
                        .notTheCorpus,
                        "the zip archive holds no .xml member, so it is not the NUS SMS Corpus (expected smsCorpus_en_2015.03.09_all.xml inside)",
                        path: path)
                }
                return try NUSSMSReader(path: path).read(xml: try archive.extract(member))
            }
            return try NUSSMSReader(path: path).read(xml: bytes)
        case .shakespeare:
            return try ShakespeareReader(path: path).read(text: try decodeUTF8(bytes, path: path))
        case .tsv:
            return try TSVReader(path: path).read(text: try decodeUTF8(bytes, path: path))
        case .jsonl:
            return try JSONLReader(path: path).read(text: try decodeUTF8(bytes, path: path))
        case .text:
            var builder = TokenizedCorpusBuilder(format: "text", source: path)
            let user = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            PlainTextReader(path: path).read(fileText: try decodeUTF8(bytes, path: path), user: user, into: &builder)
            return builder.build()
        }
    }

    /// Guesses the format of a file from its name and first bytes.
    public func detect(bytes: [UInt8], path: String) throws -> CorpusFormat {
        let lower = path.lowercased()
        if ZipArchive.looksLikeZip(bytes) || lower.hasSuffix(".zip") || lower.hasSuffix(".xml") { return .nusSMS }
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .jsonl }
        if lower.hasSuffix(".tsv") { return .tsv }
        var i = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        if i < bytes.count {
            if bytes[i] == 0x3C { return .nusSMS }
            if bytes[i] == 0x7B { return .jsonl }
        }
        let firstLine = bytes[i...].prefix { $0 != 0x0A }.filter { $0 != 0x0D }
        if firstLine.last == 0x3A && firstLine.count > 1 && !firstLine.contains(0x09) { return .shakespeare }
        return .text
    }

    // MARK: - Helpers

    private func cached(key: String, _ read: () throws -> TokenizedCorpus) throws -> TokenizedCorpus {
        let cache = CorpusCache(directory: cacheDirectory)
        if usesCache, let hit = cache.get(key: key) { return hit }
        let corpus = try read()
        if usesCache { cache.put(corpus, key: key) }
        return corpus
    }

    private func readBytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusError(.unreadable, "the file exists but cannot be read (check its permissions)", path: path)
        }
        return [UInt8](data)
    }

    private func decodeUTF8(_ bytes: [UInt8], path: String) throws -> String {
        if let text = String(validating: bytes, as: UTF8.self) {
            return text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        }
        var line = 1
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            if String(validating: bytes[start..<i], as: UTF8.self) == nil { break }
            line += 1
            start = i + 1
        }
        throw CorpusError(
            .invalidUTF8, "line \(line) is not valid UTF-8; re-encode the file as UTF-8", path: path, location: line)
    }

    private func textFiles(in path: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            throw CorpusError(.unreadable, "the folder cannot be listed (check its permissions)", path: path)
        }
        let files = names.filter { $0.lowercased().hasSuffix(".txt") }.sorted()
        guard !files.isEmpty else {
            throw CorpusError(
                .emptyCorpus,
                "the folder holds no .txt file; a text corpus folder has one USER.txt file per user, one message per line",
                path: path)
        }
        return files
    }

    private func directoryKey(_ path: String) throws -> String {
        var key = "dir|\(URL(fileURLWithPath: path).standardizedFileURL.path)|\(NWPTokenizer.metricVersion)"
        for name in try textFiles(in: path) {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            key += "|\(name)|\(size)|\(modified)"
        }
        return key
    }

    private func readDirectory(_ path: String) throws -> TokenizedCorpus {
        var builder = TokenizedCorpusBuilder(format: "text", source: path)
        for name in try textFiles(in: path) {
            let file = path + "/" + name
            let text = try decodeUTF8(try readBytes(file), path: file)
            let user = String(name.dropLast(4))
            PlainTextReader(path: file).read(fileText: text, user: user, into: &builder)
        }
        return builder.build()
    }
}
