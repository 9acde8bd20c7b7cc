extension CodecScheme: CustomStringConvertible {
    /// The grammar, for error messages and `--help`.
    public static let grammar = """
        tokens joined by ',' or '+': f32 | f16 | q<1-8><s|n> (stochastic|nearest) | rot | rot=<pow2 block> | \
        clip=<norm > 0> | chunk=<1-65536> | z<0-9>[h|r] (zlib level; h = Huffman only, r = RLE)
        """

    /// Parses a scheme string such as `clip=1.0,rot,q8s,z1` or `rot+q2s`.
    ///
    /// Tokens are joined by `,` or `+`, case-insensitive, surrounding spaces ignored. Omitted
    /// settings take their defaults: no clip, no rotation, `f32`, `chunk=1024`, `z0`.
    /// - Throws: ``CodecSchemeError`` naming the first offending token.
    public init(parsing text: String) throws(CodecSchemeError) {
        let tokens = text.lowercased().split(whereSeparator: { $0 == "," || $0 == "+" })
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty }
        guard !tokens.isEmpty else {
            throw CodecSchemeError(code: .emptyScheme, token: "", message: "empty codec scheme; \(Self.grammar)")
        }
        var scheme = CodecScheme()
        var seen: Set<String> = []
        func claim(_ setting: String, _ token: String) throws(CodecSchemeError) {
            guard seen.insert(setting).inserted else {
                throw CodecSchemeError(
                    code: .duplicateSetting, token: token,
                    message: "'\(token)' sets the \(setting) a second time; give each setting once")
            }
        }
        for token in tokens {
            if token == "f32" || token == "f16" {
                try claim("quantization", token)
                scheme.quantization = token == "f32" ? .float32 : .float16
            } else if token == "rot" {
                try claim("rotation", token)
                scheme.rotate = true
            } else if let value = token.value(after: "rot=") {
                try claim("rotation", token)
                guard let block = Int(value), block >= 2, block <= Self.maxRotationBlock, block.nonzeroBitCount == 1
                else {
                    throw CodecSchemeError(
                        code: .invalidRotationBlock, token: token,
                        message: "rotation block must be a power of two in 2...\(Self.maxRotationBlock)")
                }
                scheme.rotate = true
                scheme.rotationBlock = block
            } else if let value = token.value(after: "clip=") {
                try claim("clip norm", token)
                guard let bound = Float(value), bound.isFinite, bound > 0 else {
                    throw CodecSchemeError(
                        code: .invalidClip, token: token,
                        message: "clip norm must be a finite number > 0, e.g. clip=1.0")
                }
                scheme.clipNorm = bound
            } else if let value = token.value(after: "chunk=") {
                try claim("chunk size", token)
                guard let chunk = Int(value), (1...Self.maxChunkSize).contains(chunk) else {
                    throw CodecSchemeError(
                        code: .invalidChunkSize, token: token,
                        message: "chunk size must be an integer in 1...\(Self.maxChunkSize)")
                }
                scheme.chunkSize = chunk
            } else if token.first == "q", token.count >= 3, let rounding = token.last.flatMap(Self.rounding(for:)) {
                try claim("quantization", token)
                guard let bits = Int(token.dropFirst().dropLast()) else {
                    throw Self.unknown(token)
                }
                guard (1...8).contains(bits) else {
                    throw CodecSchemeError(
                        code: .bitsOutOfRange, token: token,
                        message: "quantization bits must be 1...8 (got \(bits)); use q1s...q8s, q1n...q8n, f16 or f32")
                }
                scheme.quantization = .uniform(bits: bits, rounding: rounding)
            } else if token.first == "z", token.count >= 2 {
                try claim("zlib level", token)
                var digits = token.dropFirst()
                var strategy = ZlibStrategy.standard
                if digits.last == "h" {
                    strategy = .huffmanOnly
                    digits = digits.dropLast()
                } else if digits.last == "r" {
                    strategy = .runLength
                    digits = digits.dropLast()
                }
                guard let level = Int(digits) else { throw Self.unknown(token) }
                guard (0...9).contains(level) else {
                    throw CodecSchemeError(
                        code: .levelOutOfRange, token: token,
                        message: "zlib level must be 0...9 (got \(level)); 0 means no compression")
                }
                scheme.zlibLevel = level
                scheme.zlibStrategy = level == 0 ? .standard : strategy
            } else {
                throw Self.unknown(token)
            }
        }
        self = scheme
    }

    /// The canonical text form; `CodecScheme(parsing: s.description) == s` for every scheme.
    ///
    /// Order: `clip=…`, `rot[=block]`, quantization, `chunk=…` (uniform only, when not 1024),
    /// `z…` (when level > 0).
    public var description: String {
        var parts: [String] = []
        if let clipNorm { parts.append("clip=\(clipNorm)") }
        if rotate { parts.append(rotationBlock == Self.defaultRotationBlock ? "rot" : "rot=\(rotationBlock)") }
        switch quantization {
        case .float32: parts.append("f32")
        case .float16: parts.append("f16")
        case .uniform(let bits, let rounding): parts.append("q\(bits)\(rounding == .stochastic ? "s" : "n")")
        }
        if chunkSize != Self.defaultChunkSize { parts.append("chunk=\(chunkSize)") }
        if zlibLevel > 0 {
            let suffix =
                switch zlibStrategy {
                case .standard: ""
                case .huffmanOnly: "h"
                case .runLength: "r"
                }
            parts.append("z\(zlibLevel)\(suffix)")
        }
        return parts.joined(separator: ",")
    }

    private static func rounding(for letter: Character) -> Rounding? {
        switch letter {
        case "s": .stochastic
        case "n": .nearest
        default: nil
        }
    }

    private static func unknown(_ token: String) -> CodecSchemeError {
        CodecSchemeError(code: .unknownToken, token: token, message: "unknown codec token '\(token)'; \(grammar)")
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

extension String {
    fileprivate func value(after prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
