public import Foundation
public import KeyboardCorpus
public import LanguageModelTypes

/// A trained neural keyboard model with the vocabulary its ids refer to: what
/// `kbd-sim train` writes and `kbd-sim eval` / `kbd-sim predict` read.
///
/// File layout (little-endian): magic `KBDKEYB1`, UInt32 version (1), UInt32 word count
/// `V`, then `V` words as UInt32 length + UTF-8 bytes in rank order, then the model file
/// exactly as ``LSTMLanguageModel/serialized()`` writes it (which carries its own config,
/// layout hash and checksum). The vocabulary must have `V + 4 == vocabularySize` ids.
public struct NeuralKeyboardModel: Sendable {
    /// The network and its weights.
    public var model: LSTMLanguageModel
    /// The words behind ids 4…; ids 0–3 are the special symbols.
    public var vocabulary: Vocabulary

    static let magic = Array("KBDKEYB1".utf8)
    static let version: UInt32 = 1

    /// Pairs a model with its vocabulary.
    ///
    /// - Throws: ``NeuralModelError`` (`shapeMismatch`) if the sizes disagree.
    public init(model: LSTMLanguageModel, vocabulary: Vocabulary) throws(NeuralModelError) {
        guard vocabulary.count == model.config.vocabularySize else {
            throw NeuralModelError(
                .shapeMismatch,
                "the model has \(model.config.vocabularySize) ids but the vocabulary \(vocabulary.count) (V + 4)")
        }
        self.model = model
        self.vocabulary = vocabulary
    }

    /// Whether `path` starts with this format's magic.
    public static func isKeyboardModelFile(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 8)).map { [UInt8]($0) } == magic
    }

    /// The model as bytes.
    public func serialized() -> Data {
        var data = Data(Self.magic)
        func append(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        append(Self.version)
        append(UInt32(vocabulary.words.count))
        for word in vocabulary.words {
            append(UInt32(word.utf8.count))
            data.append(contentsOf: word.utf8)
        }
        data.append(model.serialized())
        return data
    }

    /// Writes the file atomically.
    public func write(to path: String) throws(NeuralModelError) {
        do { try serialized().write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw NeuralModelError(
                .io, "cannot write the model file (\(error.localizedDescription))", path: path, cause: error)
        }
    }

    /// Reads a file written by ``write(to:)``.
    ///
    /// - Throws: ``NeuralModelError``: `io`, `badFormat`, `truncatedFile`, or whatever the
    ///   embedded model file's checks find (shape, checksum, NaN weights).
    public init(contentsOf path: String) throws(NeuralModelError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw NeuralModelError(
                .io, exists ? "cannot read the model file (check permissions)" : "no such model file", path: path)
        }
        do { try self.init(serialized: data) } catch {
            var e = error
            e.path = path
            throw e
        }
    }

    /// Decodes ``serialized()`` bytes.
    public init(serialized data: Data) throws(NeuralModelError) {
        let bytes = [UInt8](data)
        var at = 0
        func readU32(_ what: String) throws(NeuralModelError) -> UInt32 {
            guard bytes.count - at >= 4 else {
                throw NeuralModelError(.truncatedFile, "file ends at byte \(bytes.count) inside the \(what)")
            }
            defer { at += 4 }
            return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
        }
        guard bytes.count >= 8, Array(bytes[0..<8]) == Self.magic else {
            throw NeuralModelError(
                .badFormat, "not a kbd-sim keyboard model file (bad magic); kbd-sim train writes them")
        }
        at = 8
        let version = try readU32("header")
        guard version == Self.version else {
            throw NeuralModelError(
                .badFormat, "keyboard model file version \(version); this build reads version \(Self.version)")
        }
        let count = Int(try readU32("header"))
        guard count <= bytes.count else {
            throw NeuralModelError(.truncatedFile, "the header announces \(count) words, more than the file could hold")
        }
        var words: [String] = []
        words.reserveCapacity(count)
        for i in 0..<count {
            let length = Int(try readU32("vocabulary"))
            guard bytes.count - at >= length else {
                throw NeuralModelError(.truncatedFile, "file ends inside vocabulary word \(i + 1)")
            }
            guard let word = String(validating: bytes[at..<(at + length)], as: UTF8.self) else {
                throw NeuralModelError(.badFormat, "vocabulary word \(i + 1) is not valid UTF-8")
            }
            words.append(word)
            at += length
        }
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(words: words) } catch {
            throw NeuralModelError(.badFormat, "the vocabulary repeats a word or holds an empty one", cause: error)
        }
        let model = try LSTMLanguageModel(serialized: Data(bytes[at...]))
        try self.init(model: model, vocabulary: vocabulary)
    }
}
