public import Foundation
public import LanguageModelTypes

extension LSTMLanguageModel {
    /// The weights in the safetensors format, loadable by PyTorch (`safetensors.torch`) or
    /// numpy: an 8-byte little-endian header length, a JSON header naming every tensor of
    /// ``ParameterLayout`` (dtype `F32`, row-major shape, byte offsets), padded with spaces to
    /// a multiple of 8, then the Float32 data. `__metadata__` holds the config JSON and the
    /// layout hash (hex).
    public func safetensorsData() -> Data {
        var header = "{\"__metadata__\":{\"format\":\"pt\",\"kbd_sim_config\":"
        let configJSON = String(decoding: config.compactJSON(), as: UTF8.self)
        header += jsonString(configJSON)
        header += ",\"layout_hash\":\"\(String(layout.layoutHash, radix: 16))\"}"
        for t in layout.tensors {
            let begin = t.offset * 4
            let end = (t.offset + t.count) * 4
            header +=
                ",\"\(t.name)\":{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(begin),\(end)]}"
        }
        header += "}"
        while header.utf8.count % 8 != 0 { header += " " }
        var data = Data()
        data.appendLE(UInt64(header.utf8.count))
        data.append(contentsOf: Array(header.utf8))
        parameters.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// Writes ``safetensorsData()`` to a file.
    ///
    /// - Throws: ``NeuralModelError`` (`io`).
    public func exportSafetensors(to url: URL) throws(NeuralModelError) {
        do { try safetensorsData().write(to: url, options: .atomic) } catch {
            throw NeuralModelError(.io, "cannot write safetensors file", path: url.path, cause: error)
        }
    }

    private func jsonString(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}

extension ModelConfig {
    func compactJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)) ?? Data()
    }
}
