import Aggregation
import ArgumentParser
import FederatedCore
import Foundation
import KernelPaths
import LanguageModelTypes
import LanguageModels
import UpdateCodec

/// `kbd-sim codec`: tools for the update codec.
struct CodecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Measure the model-update codec (bytes on the uplink versus accuracy and speed).",
        subcommands: [CodecBenchCommand.self]
    )
}

/// `kbd-sim codec bench`: bytes per parameter, error and speed for each scheme.
struct CodecBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Encode synthetic model deltas with each scheme; report size, error and speed.",
        discussion: """
            Deltas: 'gaussian' (N(0, 0.01²) i.i.d.) and 'sparse90' (90 % exact zeros, 10 % \
            Laplace with scale 0.01, a skewed delta like an embedding update), or real deltas \
            from --delta-file (raw little-endian float32, e.g. the difference of two checkpoints).

            MB/s are 10⁶ bytes of float32 input (4 × params) per second, best of --repeats, one \
            core. decodeAccumulateMBps streams each message into a running weighted sum (two \
            passes: validate, then apply). zlibOnlyMBps times zlib alone on the exact bytes the \
            encoder deflates, the bound on encodeMBps.


            Scheme grammar: \(CodecScheme.grammar)

            Examples:
              kbd-sim codec bench
              kbd-sim codec bench --params 100000 --schemes 'rot,q8s,z1;q4s,z6' --json
              kbd-sim codec bench --schemes f32,f16,q8s,q4s,rot+q2s,rot+q1s --zlib 0,1,6,9
            """
    )

    @Option(help: "Parameters per synthetic delta (1…100,000,000).")
    var params: Int = 1_400_000

    @Option(
        help: ArgumentHelp(
            "Schemes separated by ';' (e.g. 'rot,q8s,z1;q4s'); with --zlib, codecs separated by ',' (use '+' inside one).",
            valueName: "list"))
    var schemes: String =
        "f32;f32,z1;f16,z1;q8s;q8s,z1;rot,q8s,z1;rot,q8s,z1h;q4s,z1;rot,q4s,z1;rot,q2s,z1;q1s,z1;rot,q1s,z1"

    @Option(help: ArgumentHelp("zlib levels to cross with each codec in --schemes, e.g. 0,1,6,9.", valueName: "levels"))
    var zlib: String?

    @Option(help: "Seed for the synthetic deltas, rotations and dither.")
    var seed: UInt64 = 1

    @Option(help: "Timing repetitions per scheme; the best is reported (1…100).")
    var repeats: Int = 3

    @Option(
        name: .customLong("delta-file"),
        help: ArgumentHelp(
            "A real delta as raw little-endian float32 (e.g. checkpoint B minus A); repeatable. Replaces the synthetic deltas.",
            valueName: "path"))
    var deltaFiles: [String] = []

    @Option(
        name: .customLong("checkpoints"),
        help: ArgumentHelp(
            "Two neural model files A,B (from kbd-sim train, e.g. B trained on with --init A); measures the real delta B − A.",
            valueName: "a,b"))
    var checkpoints: String?

    @Flag(help: "Print one JSON document on stdout instead of the table.")
    var json = false

    mutating func validate() throws {
        guard (1...100_000_000).contains(params) else {
            throw ValidationError("--params must be in 1...100000000 (got \(params))")
        }
        guard (1...100).contains(repeats) else {
            throw ValidationError("--repeats must be in 1...100 (got \(repeats))")
        }
        _ = try parsedSchemes()
        for path in deltaFiles {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            guard let size, size > 0, size % 4 == 0, size <= 400_000_000 else {
                throw ValidationError(
                    "--delta-file \(path): must exist and hold 1...100000000 float32 values (a multiple of 4 bytes)")
            }
        }
    }

    /// The deltas to measure: the checkpoint pair, the files given, or the two synthetic ones.
    func deltas() throws -> [(String, [Float])] {
        if let checkpoints {
            let paths = checkpoints.split(separator: ",").map(String.init)
            guard paths.count == 2 else { throw ValidationError("--checkpoints takes two model files, A,B") }
            let a = try NeuralKeyboardModel(contentsOf: paths[0]).model
            let b = try NeuralKeyboardModel(contentsOf: paths[1]).model
            guard a.layout.layoutHash == b.layout.layoutHash else {
                throw ValidationError("--checkpoints: \(paths[0]) and \(paths[1]) are models of different shapes")
            }
            let delta = zip(b.parameters, a.parameters).map { $0 - $1 }
            return [
                ("\((paths[1] as NSString).lastPathComponent) − \((paths[0] as NSString).lastPathComponent)", delta)
            ]
        }
        guard !deltaFiles.isEmpty else {
            return [("gaussian", Self.gaussian(params, seed: seed)), ("sparse90", Self.sparse(params, seed: seed))]
        }
        return try deltaFiles.map { path in
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let values = data.withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map {
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
                }
            }
            return ((path as NSString).lastPathComponent, values)
        }
    }

    /// The schemes to run, after crossing with --zlib; throws ValidationError on bad text.
    func parsedSchemes() throws -> [CodecScheme] {
        do throws(CodecSchemeError) {
            guard let zlib else {
                var result: [CodecScheme] = []
                for text in schemes.split(separator: ";") { result.append(try CodecScheme(parsing: String(text))) }
                return result
            }
            var levels: [Int] = []
            for token in zlib.split(separator: ",") {
                guard let level = Int(token.trimmingCharacters(in: .whitespaces)), (0...9).contains(level) else {
                    throw CodecSchemeError(
                        code: .levelOutOfRange, token: String(token),
                        message: "--zlib levels must be integers in 0...9 (got '\(token)')")
                }
                levels.append(level)
            }
            var result: [CodecScheme] = []
            for codec in schemes.split(separator: ",") {
                for level in levels {
                    var scheme = try CodecScheme(parsing: String(codec))
                    scheme.zlibLevel = level
                    result.append(scheme)
                }
            }
            return result
        } catch {
            throw ValidationError("bad codec scheme: \(error.message) (token '\(error.token)')")
        }
    }

    /// One row of the report; the keys are the table's column names.
    struct Row: Codable {
        var delta: String
        var scheme: String
        var bytesPerParam: Double
        var ratioToF32: Double
        var relL2Error: Double
        var encodeMBps: Double
        var decodeAccumulateMBps: Double
        var zlibOnlyMBps: Double?
    }

    func run() throws {
        status("kernel path: " + KernelPath.report().summaryLine)
        let schemes = try parsedSchemes()
        var rows: [Row] = []
        for (name, delta) in try deltas() {
            for scheme in schemes {
                rows.append(try measure(scheme, name: name, delta: delta))
                if !json { FileHandle.standardError.write(Data("  \(name) \(scheme)\n".utf8)) }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Report: Codable {
                var params: Int?
                var seed: UInt64
                var repeats: Int
                var rows: [Row]
            }
            let data = try encoder.encode(
                Report(
                    params: deltaFiles.isEmpty && checkpoints == nil ? params : nil, seed: seed, repeats: repeats,
                    rows: rows))
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                Self.table(
                    rows,
                    params: checkpoints != nil
                        ? "from --checkpoints" : (deltaFiles.isEmpty ? "\(params)" : "from --delta-file")))
        }
    }

    private func measure(_ scheme: CodecScheme, name: String, delta: [Float]) throws -> Row {
        let metadata = UpdateMetadata(runID: 1, round: 1, layoutHash: 0xC0DEC, exampleCount: 1, deviceID: 1)
        let encoder = UpdateEncoder(scheme: scheme)
        var message: [UInt8] = []
        let encodeSeconds = try Self.best(repeats) {
            message = try encoder.encode(delta, metadata: metadata, seed: seed)
        }
        // The server's path for one update: decode into a reused buffer, then add to the sum.
        let decoder = UpdateDecoder(expectedLayoutHash: metadata.layoutHash, expectedParameterCount: delta.count)
        var scratch = DecodeScratch()
        var values = [Float](repeating: 0, count: delta.count)
        var sum = WeightedSum(parameterCount: delta.count)
        let decodeSeconds = try Self.best(repeats) {
            try values.withUnsafeMutableBufferPointer { out in
                try message.withUnsafeBytes { bytes in
                    try Result { () throws(UpdateCodecError) in
                        _ = try decoder.decode(bytes, into: out, scratch: &scratch)
                    }.get()
                }
            }
            sum.add(values, weight: 1)
        }
        let decoded = try UpdateDecoder().decode(message).values
        var zlibSeconds: Double? = nil
        if scheme.zlibLevel > 0 {
            let raw = try encoder.rawPayload(delta, metadata: metadata, seed: seed)
            zlibSeconds = try Self.best(repeats) { _ = try encoder.deflateOnly(raw) }
        }
        var diff = 0.0
        var norm = 0.0
        for i in delta.indices {
            let d = Double(decoded[i]) - Double(delta[i])
            diff += d * d
            norm += Double(delta[i]) * Double(delta[i])
        }
        let inputMB = Double(delta.count) * 4 / 1e6
        return Row(
            delta: name, scheme: scheme.description, bytesPerParam: Double(message.count) / Double(delta.count),
            ratioToF32: Double(delta.count * 4) / Double(message.count),
            relL2Error: norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot(),
            encodeMBps: inputMB / encodeSeconds, decodeAccumulateMBps: inputMB / decodeSeconds,
            zlibOnlyMBps: zlibSeconds.map { inputMB / $0 })
    }

    private static func best(_ repeats: Int, _ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<repeats {
            let start = clock.now
            try body()
            let elapsed = start.duration(to: clock.now).components
            best = min(best, Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
        }
        return max(best, 1e-9)
    }

    static func gaussian(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed, streams: 1)
        return (0..<n).map { _ in
            let u1 = max(rng.nextUnitDouble(), 1e-300)
            return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * rng.nextUnitDouble()) * 0.01)
        }
    }

    static func sparse(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed, streams: 2)
        return (0..<n).map { _ in
            guard rng.nextUnitDouble() < 0.1 else { return 0 }
            let u = rng.nextUnitDouble() - 0.5
            return Float((u < 0 ? 1 : -1) * 0.01 * log(max(1 - 2 * abs(u), 1e-300)))
        }
    }

    static func table(_ rows: [Row], params: String) -> String {
        let header = [
            "delta", "scheme", "bytesPerParam", "ratioToF32", "relL2Error", "encodeMBps", "decodeAccumulateMBps",
            "zlibOnlyMBps",
        ]
        let cells = rows.map { r in
            [
                r.delta, r.scheme, String(format: "%.4f", r.bytesPerParam), String(format: "%.2f", r.ratioToF32),
                String(format: "%.2e", r.relL2Error), String(format: "%.0f", r.encodeMBps),
                String(format: "%.0f", r.decodeAccumulateMBps),
                r.zlibOnlyMBps.map { String(format: "%.0f", $0) } ?? "-",
            ]
        }
        let widths = header.indices.map { c in ([header[c]] + cells.map { $0[c] }).map(\.count).max()! }
        func line(_ row: [String]) -> String {
            "| "
                + row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                    separator: " | ") + " |"
        }
        let rule = "| " + widths.map { String(repeating: "-", count: $0) }.joined(separator: " | ") + " |"
        return (["params: \(params)", line(header), rule] + cells.map(line)).joined(separator: "\n")
    }
}
