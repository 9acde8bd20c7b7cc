import Foundation
import KeyboardCorpus
import LanguageModelTypes
import Testing

@testable import LanguageModels

struct NeuralKeyboardModelTests {
    @Test("built-in presets equal the files in models/", arguments: ModelConfig.presets)
    func presetsMatchFiles(_ preset: ModelConfig) throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = repo.appendingPathComponent("models/\(preset.name).json")
        #expect(try ModelConfig.load(contentsOf: file) == preset)
    }

    func tinyModel() throws -> NeuralKeyboardModel {
        var config = try #require(ModelConfig.preset(named: "lstm-tiny"))
        let words = (0..<10).map { "w\($0)" }
        config.vocabularySize = words.count + 4
        return try NeuralKeyboardModel(model: LSTMLanguageModel(config: config), vocabulary: Vocabulary(words: words))
    }

    @Test func roundTripsWithItsVocabulary() throws {
        let model = try tinyModel()
        let restored = try NeuralKeyboardModel(serialized: model.serialized())
        #expect(restored.vocabulary == model.vocabulary)
        #expect(restored.model.parameters == model.model.parameters)
    }

    @Test func rejectsTruncatedForeignAndMismatchedFiles() throws {
        let model = try tinyModel()
        let bytes = model.serialized()
        for cut in [0, 7, 12, 20, 60, bytes.count - 1] {
            #expect(throws: NeuralModelError.self) { try NeuralKeyboardModel(serialized: bytes.prefix(cut)) }
        }
        // The bare LSTM file (no vocabulary) is not a keyboard model file.
        #expect(throws: NeuralModelError.self) { try NeuralKeyboardModel(serialized: model.model.serialized()) }
        // A vocabulary whose size disagrees with the network.
        #expect(throws: NeuralModelError.self) {
            try NeuralKeyboardModel(model: model.model, vocabulary: Vocabulary(words: ["a", "b"]))
        }
        // NaN weights inside the embedded model file.
        var poisoned = model.model
        poisoned.parameters[3] = .nan
        let nanBytes = try NeuralKeyboardModel(model: poisoned, vocabulary: model.vocabulary).serialized()
        #expect(throws: NeuralModelError.self) { try NeuralKeyboardModel(serialized: nanBytes) }
    }
}
