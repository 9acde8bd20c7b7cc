/// Where each named tensor lives in a model's one flat `Float` buffer.
///
/// A model update, its quantization and its aggregation are operations on the one vector;
/// the layout only names its slices. Tensors are row-major and stored in this order:
///
/// | name | shape |
/// | --- | --- |
/// | `embedding` | `[vocabularySize, embedding]` (input and tied output embedding) |
/// | `lstm.input_kernel` | `[embedding, blocks·hidden]` |
/// | `lstm.recurrent_kernel` | `[hidden, blocks·hidden]` |
/// | `lstm.bias` | `[blocks·hidden]` |
/// | `projection.kernel` | `[hidden, projection]` (only if `projection > 0`) |
/// | `output.bias` | `[vocabularySize]` |
///
/// Gate blocks are ordered CIFG `[f, o, g]`, LSTM `[i, f, o, g]`.
public struct ParameterLayout: Sendable, Hashable {
    /// One named tensor: a slice of the flat buffer.
    public struct Tensor: Sendable, Hashable {
        /// The tensor's name, also used in safetensors exports.
        public var name: String
        /// Its shape, row-major.
        public var shape: [Int]
        /// The index of its first element in the flat buffer.
        public var offset: Int
        /// The number of elements.
        public var count: Int { shape.reduce(1, *) }
        /// The flat-buffer range it occupies.
        public var range: Range<Int> { offset..<(offset + count) }
    }

    /// The tensors, in storage order.
    public let tensors: [Tensor]
    /// The total number of parameters.
    public let parameterCount: Int
    /// A stable 64-bit FNV-1a hash of the cell kind, names and shapes: equal hashes mean the
    /// same model shape, so a delta or a file can be checked against a model.
    public let layoutHash: UInt64

    /// The layout of a configuration's parameters.
    public init(config: ModelConfig) {
        let blocks = config.cell.gateBlockCount
        var specs: [(String, [Int])] = [
            ("embedding", [config.vocabularySize, config.embedding]),
            ("lstm.input_kernel", [config.embedding, blocks * config.hidden]),
            ("lstm.recurrent_kernel", [config.hidden, blocks * config.hidden]),
            ("lstm.bias", [blocks * config.hidden]),
        ]
        if config.projection > 0 { specs.append(("projection.kernel", [config.hidden, config.projection])) }
        specs.append(("output.bias", [config.vocabularySize]))
        var offset = 0
        var tensors: [Tensor] = []
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        mix("kbd-sim/lstm-lm/v1;cell=\(config.cell.rawValue);".utf8)
        for (name, shape) in specs {
            let tensor = Tensor(name: name, shape: shape, offset: offset)
            tensors.append(tensor)
            offset += tensor.count
            mix("\(name)[\(shape.map(String.init).joined(separator: ","))];".utf8)
        }
        self.tensors = tensors
        self.parameterCount = offset
        self.layoutHash = hash
    }

    /// The number of parameters a configuration has, without building the layout.
    public static func parameterCount(for config: ModelConfig) -> Int {
        let g = config.cell.gateBlockCount * config.hidden
        return config.vocabularySize * config.embedding + config.embedding * g + config.hidden * g + g
            + config.hidden * config.projection + config.vocabularySize
    }

    /// The tensor with a name, or `nil`.
    public func tensor(named name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// The tensor with a name; a precondition failure if absent.
    public func requireTensor(named name: String) -> Tensor {
        guard let t = tensor(named: name) else { preconditionFailure("no tensor named \(name)") }
        return t
    }
}
