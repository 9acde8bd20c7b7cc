import Foundation
import LanguageModelTypes
import Testing

@testable import LanguageModels

struct PredictorTests {
    static let configs: [ModelConfig] = [
        ModelConfig(name: "p-cifg", vocabularySize: 57, embedding: 6, hidden: 9, projection: 6, cell: .cifg, seed: 2),
        ModelConfig(name: "p-lstm", vocabularySize: 57, embedding: 7, hidden: 7, projection: 0, cell: .lstm, seed: 3),
    ]

    @Test("cached-state prediction gives the training graph's log-probabilities", arguments: configs)
    func predictorMatchesGraph(config: ModelConfig) throws {
        var model = try LSTMLanguageModel(config: config)
        for i in model.parameters.indices { model.parameters[i] *= 3 }
        let message: [Int32] = [4, 9, 1, 30, 4, 56]
        let predictor = LSTMPredictor(model: model)
        var sum = 0.0
        for id in message {
            sum -= Double(predictor.logProbability(of: id))
            predictor.feed(id)
        }
        sum -= Double(predictor.logProbability(of: 3))
        let graph = LSTMGraph<Double>(config: config)
        graph.prepare([message])
        let p = model.parameters.map(Double.init)
        let reference = p.withUnsafeBufferPointer {
            graph.run(parameters: $0.baseAddress!, gradients: nil, lossScale: 1)
        }
        #expect(abs(sum - reference) < 1e-4 * reference)

        var top = [Int32](repeating: 0, count: message.count * 3)
        var lp = [Double](repeating: 0, count: message.count)
        message.withUnsafeBufferPointer { ids in
            top.withUnsafeMutableBufferPointer { t in
                lp.withUnsafeMutableBufferPointer { predictor.predictMessage(ids, k: 3, topK: t, targetLogProbs: $0) }
            }
        }
        // predictMessage (whole-message GEMM path) agrees with feeding word by word.
        let stepwise = LSTMPredictor(model: model)
        for (i, id) in message.enumerated() {
            #expect(stepwise.topK(3) == Array(top[(3 * i)..<(3 * i + 3)]), "position \(i)")
            #expect(abs(Double(stepwise.logProbability(of: id)) - lp[i]) < 1e-4, "position \(i)")
            stepwise.feed(id)
        }
        #expect(top.allSatisfy { $0 >= 4 })
        // Row 0 is the prediction after <s>, same as a fresh predictor's topK.
        #expect(Array(top[0..<3]) == LSTMPredictor(model: model).topK(3))
        // Top-k is sorted by probability, ties to the lower id.
        let fresh = LSTMPredictor(model: model)
        let k = fresh.topK(10)
        for i in 1..<10 {
            let a = fresh.logProbability(of: k[i - 1])
            let b = fresh.logProbability(of: k[i])
            #expect(a > b || (a == b && k[i - 1] < k[i]))
        }
        #expect(fresh.logProbability(of: 0) == -.infinity && fresh.logProbability(of: 2) == -.infinity)
    }

    @Test("a model with all-equal logits ranks ties by the lower id")
    func tiesGoToLowerID() throws {
        var model = try LSTMLanguageModel(config: Self.configs[0])
        for i in model.parameters.indices { model.parameters[i] = 0 }
        #expect(LSTMPredictor(model: model).topK(3) == [4, 5, 6])
    }
}

struct ModelFileTests {
    static let config = ModelConfig(
        name: "f", vocabularySize: 30, embedding: 5, hidden: 6, projection: 5, cell: .cifg, seed: 7)

    @Test("a saved model loads back bit for bit")
    func roundTrip() throws {
        let model = try LSTMLanguageModel(config: Self.config)
        let back = try LSTMLanguageModel(serialized: model.serialized(), expectedLayoutHash: model.layoutHash)
        #expect(back.config == model.config)
        #expect(back.parameters.elementsEqual(model.parameters) { $0.bitPattern == $1.bitPattern })
    }

    @Test("a truncated file is a truncatedFile error at every cut")
    func truncated() throws {
        let data = try LSTMLanguageModel(config: Self.config).serialized()
        for cut in [0, 4, 9, 15, 20, data.count / 2, data.count - 1] {
            #expect(throws: NeuralModelError.self) { try LSTMLanguageModel(serialized: data.prefix(cut)) }
            do { _ = try LSTMLanguageModel(serialized: data.prefix(cut)) } catch {
                #expect(error.code == .truncatedFile || (cut < 8 && error.code == .truncatedFile))
            }
        }
    }

    @Test("a file of another shape is a shapeMismatch error")
    func otherShape() throws {
        var other = Self.config
        other.hidden = 7
        let data = try LSTMLanguageModel(config: other).serialized()
        let expected = ParameterLayout(config: Self.config).layoutHash
        do {
            _ = try LSTMLanguageModel(serialized: data, expectedLayoutHash: expected)
            Issue.record("no error")
        } catch { #expect(error.code == .shapeMismatch) }
        var lstm = Self.config
        lstm.cell = .lstm
        #expect(ParameterLayout(config: lstm).layoutHash != expected)
    }

    @Test("NaN weights and corrupted payloads are rejected")
    func nanAndCorruption() throws {
        var model = try LSTMLanguageModel(config: Self.config)
        model.parameters[42] = .nan
        do {
            _ = try LSTMLanguageModel(serialized: model.serialized())
            Issue.record("no error")
        } catch {
            #expect(error.code == .nonFiniteWeights)
            #expect(error.message.contains("embedding"))
        }
        var data = try LSTMLanguageModel(config: Self.config).serialized()
        data[data.count - 20] ^= 0xFF
        do {
            _ = try LSTMLanguageModel(serialized: data)
            Issue.record("no error")
        } catch {
            #expect(error.code == .checksumMismatch)
        }
        var bad = data
        bad[0] = 0
        do {
            _ = try LSTMLanguageModel(serialized: bad)
            Issue.record("no error")
        } catch { #expect(error.code == .badFormat) }
    }

    @Test(
        "impossible configs are invalidConfig errors naming the field",
        arguments: [
            (
                "{\"name\":\"x\",\"vocabularySize\":3,\"embedding\":4,\"hidden\":4,\"projection\":0,\"cell\":\"cifg\",\"seed\":1}",
                "vocabularySize"
            ),
            (
                "{\"name\":\"x\",\"vocabularySize\":30,\"embedding\":0,\"hidden\":4,\"projection\":0,\"cell\":\"cifg\",\"seed\":1}",
                "embedding"
            ),
            (
                "{\"name\":\"x\",\"vocabularySize\":30,\"embedding\":4,\"hidden\":-1,\"projection\":0,\"cell\":\"cifg\",\"seed\":1}",
                "hidden"
            ),
            (
                "{\"name\":\"x\",\"vocabularySize\":30,\"embedding\":4,\"hidden\":8,\"projection\":5,\"cell\":\"cifg\",\"seed\":1}",
                "projection"
            ),
            (
                "{\"name\":\"x\",\"vocabularySize\":30,\"embedding\":4,\"hidden\":8,\"projection\":4,\"cell\":\"gru\",\"seed\":1}",
                "cell"
            ),
            (
                "{\"name\":\"x\",\"embedding\":4,\"hidden\":8,\"projection\":4,\"cell\":\"cifg\",\"seed\":1}",
                "vocabularySize"
            ),
        ])
    func invalidConfigs(json: String, field: String) {
        do {
            _ = try ModelConfig.decode(json: Data(json.utf8))
            Issue.record("no error")
        } catch {
            #expect(error.code == .invalidConfig)
            #expect(error.message.contains(field), "\(error.message)")
        }
    }

    @Test("the checked-in model configs load", arguments: ["cifg-gboard", "cifg-small", "lstm-tiny"])
    func checkedInConfigs(name: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/\(name).json")
        let config = try ModelConfig.load(contentsOf: url)
        #expect(config.name == name)
    }

    @Test("the safetensors header names every tensor with its offsets")
    func safetensorsHeader() throws {
        let model = try LSTMLanguageModel(config: Self.config)
        let data = model.safetensorsData()
        let n = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) })
        #expect(n % 8 == 0)
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
        for t in model.layout.tensors {
            let entry = header[t.name] as! [String: Any]
            #expect(entry["shape"] as! [Int] == t.shape)
            #expect(entry["data_offsets"] as! [Int] == [t.offset * 4, (t.offset + t.count) * 4])
        }
        #expect(data.count == 8 + n + model.parameters.count * 4)
    }
}
