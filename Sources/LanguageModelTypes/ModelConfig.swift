public import Foundation

/// The recurrent cell of a neural keyboard model.
public enum RecurrentCellKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// Coupled input and forget gate (Greff et al. 2017): `i = 1 − f`, three gate blocks.
    case cifg
    /// The standard LSTM cell with independent input, forget and output gates; four blocks.
    case lstm

    /// The number of `hidden`-wide blocks in the gate pre-activations.
    ///
    /// Gate order within a row: CIFG `[f, o, g]`, LSTM `[i, f, o, g]`, where `g` is the
    /// tanh candidate.
    public var gateBlockCount: Int { self == .cifg ? 3 : 4 }
}

/// The shape of an embedding + LSTM language model with tied input/output embeddings.
///
/// Loaded from `models/<name>.json`. The network is
/// `x = E[w]`, `h, c = cell(x, h, c)`, `y = h · P` (or `y = h` without projection),
/// `logits = y · Eᵀ + b`, so the projection size must equal the embedding size (or, without a
/// projection, the hidden size must).
public struct ModelConfig: Codable, Sendable, Hashable {
    /// A name for reports, e.g. `cifg-small`.
    public var name: String
    /// The number of ids: `V` words plus the four special symbols (so `V + 4`).
    public var vocabularySize: Int
    /// The embedding width, shared by the input and the tied output embedding.
    public var embedding: Int
    /// The number of LSTM units.
    public var hidden: Int
    /// The width of the projection after the LSTM; `0` means no projection.
    public var projection: Int
    /// The recurrent cell.
    public var cell: RecurrentCellKind
    /// The seed of the weight initialization (SplitMix64).
    public var seed: UInt64

    /// Creates a configuration; call ``validate()`` before use.
    public init(
        name: String, vocabularySize: Int, embedding: Int, hidden: Int, projection: Int,
        cell: RecurrentCellKind, seed: UInt64 = 1
    ) {
        self.name = name
        self.vocabularySize = vocabularySize
        self.embedding = embedding
        self.hidden = hidden
        self.projection = projection
        self.cell = cell
        self.seed = seed
    }

    /// The width of the vector fed to the tied output layer.
    public var outputWidth: Int { projection > 0 ? projection : hidden }

    /// Throws if a size is impossible.
    ///
    /// - Throws: ``NeuralModelError`` with code `invalidConfig`, naming the field and its range.
    public func validate() throws(NeuralModelError) {
        func check(_ ok: Bool, _ message: String) throws(NeuralModelError) {
            if !ok { throw NeuralModelError(.invalidConfig, message) }
        }
        try check(
            (5...4_000_000).contains(vocabularySize),
            "vocabularySize is \(vocabularySize); allowed 5...4000000 (V words + 4 special ids)")
        try check((1...4096).contains(embedding), "embedding is \(embedding); allowed 1...4096")
        try check((1...8192).contains(hidden), "hidden is \(hidden); allowed 1...8192")
        try check(
            projection == 0 || (1...4096).contains(projection),
            "projection is \(projection); allowed 0 (none) or 1...4096")
        if projection > 0 {
            try check(
                projection == embedding,
                "projection is \(projection) but must equal embedding (\(embedding)) for tied embeddings")
        } else {
            try check(
                hidden == embedding,
                "projection is 0, so hidden (\(hidden)) must equal embedding (\(embedding)) for tied embeddings")
        }
        let count = ParameterLayout.parameterCount(for: self)
        try check(count <= 1 << 31, "the model would have \(count) parameters; at most 2^31 allowed")
    }

    /// Decodes and validates a configuration from JSON.
    ///
    /// - Throws: ``NeuralModelError`` (`invalidConfig`) for malformed JSON, a missing field or
    ///   an impossible size.
    public static func decode(json data: Data) throws(NeuralModelError) -> ModelConfig {
        let config: ModelConfig
        do {
            config = try JSONDecoder().decode(ModelConfig.self, from: data)
        } catch let error as DecodingError {
            throw NeuralModelError(.invalidConfig, "config JSON: \(Self.describe(error))", cause: error)
        } catch {
            throw NeuralModelError(.invalidConfig, "config JSON could not be read", cause: error)
        }
        try config.validate()
        return config
    }

    /// Loads and validates `models/<name>.json` or any JSON config file.
    ///
    /// - Throws: ``NeuralModelError`` with code `io` or `invalidConfig`, carrying the path.
    public static func load(contentsOf url: URL) throws(NeuralModelError) -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NeuralModelError(.io, "cannot read config", path: url.path, cause: error)
        }
        do { return try decode(json: data) } catch {
            var e = error
            e.path = url.path
            throw e
        }
    }

    /// The JSON form, keys sorted, as stored in `models/`.
    public func encodedJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)) ?? Data()
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
            "field '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
        @unknown default: "unreadable"
        }
    }
}
