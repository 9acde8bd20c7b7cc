import ArgumentParser
internal import Foundation
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels

/// A model loaded from a file, whichever kind it is.
enum LoadedModel {
    case nGram(KneserNeyModel)
    case neural(NeuralKeyboardModel)

    /// Reads an ARPA file or a kbd-sim keyboard model file, told apart by content.
    init(path: String) throws {
        if NeuralKeyboardModel.isKeyboardModelFile(path) {
            self = .neural(try NeuralKeyboardModel(contentsOf: path))
        } else {
            self = .nGram(try KneserNeyModel(arpaFile: path))
        }
    }

    var vocabulary: Vocabulary {
        switch self {
        case .nGram(let m): m.vocabulary
        case .neural(let m): m.vocabulary
        }
    }
}

/// Resolves `--model NAME|PATH` for neural training: a config file path, `models/NAME.json`
/// under the current folder, or a built-in preset.
func resolveModelConfig(_ text: String) throws -> ModelConfig {
    if FileManager.default.fileExists(atPath: text) {
        return try ModelConfig.load(contentsOf: URL(fileURLWithPath: text))
    }
    let local = "models/\(text).json"
    if FileManager.default.fileExists(atPath: local) {
        return try ModelConfig.load(contentsOf: URL(fileURLWithPath: local))
    }
    if let preset = ModelConfig.preset(named: text) { return preset }
    let names = ModelConfig.presets.map(\.name).joined(separator: ", ")
    throw ValidationError("--model \(text) is neither a config file nor a known model (\(names))")
}

/// nwp-v1 figures of a neural model on encoded messages (single-threaded: the predictor
/// owns scratch buffers).
func evaluateNeural(_ model: LSTMLanguageModel, messages: [[Int32]]) -> NextWordMetrics {
    var predictor = LSTMPredictor(model: model)
    return NextWordEvaluator.evaluate(&predictor, messages: messages)
}
