public import FederationProtocol
public import LanguageModelTypes
import LanguageModels
import UpdateCodec

// What both roles need to know of a run's model kind: its label and its check against the
// vocabulary. Each role then looks at the kind in one place of its own, which builds its side
// of the model: `makeGlobalModel` in FederationServer (``GlobalModel``), `makeDeviceModel` in
// FederationFleet (``DeviceModel``); everything else in a round works through those.

extension RunConfiguration.ModelKind {
    /// A short label for tables: `cifg-small`, `kn3`.
    public var label: String {
        switch self {
        case .neural(let config): config.name
        case .ngram(let order): "kn\(order)"
        }
    }

    /// The neural model's architecture, or nil for n-gram counts (runs that need weight
    /// deltas, such as the quantization benchmark, ask for it).
    public var neuralConfig: ModelConfig? {
        if case .neural(let config) = self { return config }
        return nil
    }

    /// Checks the kind against the run's vocabulary size.
    package func validate(vocabularySize: Int) throws(FederationError) {
        switch self {
        case .ngram(let order):
            guard (1...5).contains(order) else {
                throw FederationError(
                    .invalidConfiguration, "--model must be kn1 … kn5 for Kneser-Ney (got kn\(order))")
            }
        case .neural(let config):
            guard config.vocabularySize == vocabularySize + 4 else {
                throw FederationError(
                    .invalidConfiguration,
                    "the model's vocabulary size \(config.vocabularySize) is not --vocab + 4 = \(vocabularySize + 4)")
            }
        }
    }
}

extension RunConfiguration {
    /// A short label for tables: `cifg-small`, `kn3`.
    public var modelLabel: String { model.label }

    /// A neural run's parameters per update and the exact size of one float32 update message
    /// (header + 4 bytes per parameter + CRC, the `f32` scheme); nil for n-gram counts.
    public func updateSizes() throws -> (parameters: Int, float32UpdateBytes: Int)? {
        guard let config = model.neuralConfig else { return nil }
        let model = try LSTMLanguageModel(config: config)
        let count = model.parameters.count
        let zeros = [Float](repeating: 0, count: count)
        let metadata = UpdateMetadata(runID: 0, round: 0, layoutHash: model.layoutHash, exampleCount: 0, deviceID: 0)
        let bytes = try UpdateEncoder(scheme: CodecScheme()).encode(zeros, metadata: metadata, seed: 0)
        return (count, bytes.count)
    }
}
