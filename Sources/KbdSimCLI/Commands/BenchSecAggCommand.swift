import ArgumentParser
internal import CZlib
import FederatedCore
internal import Foundation
import LanguageModelTypes
import SecureAggregation
import Synchronization

/// `kbd-sim bench secagg`: what secure aggregation (SecAgg+) costs per round, in bytes, phone
/// time and server time, across cohort sizes, dropout rates and bit widths.
struct BenchSecAggCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secagg",
        abstract: "Measure secure aggregation's bytes, phone time and server time per round (in process).",
        discussion: """
            Each (cohort K, dropout, bit width b) runs one whole SecAgg+ round in process: K phones \
            with b-bit inputs of --length coordinates (default: the model's parameter count), masked \
            in Z_2^m with m = b + ⌈log2 K⌉, on a random k-regular neighbour graph with t-of-k \
            shares (k and t from K, --corrupt and --max-dropout; docs/secure-aggregation.md). A \
            phone that drops does so after advertise keys, share keys or masked input, one drawn \
            uniformly, each phone with probability --dropouts. Every round's sum is checked against \
            the plain sum of the same inputs, computed beside the protocol.

            Columns (the --json keys are the same): up/down B per stage = mean bytes per phone \
            (keys: advertise keys / neighbour keys; shares: share keys / forwarded shares; masked: \
            masked input / unmask request; unmask: revealed shares); plain B = the b-bit upload \
            without zlib (⌈L·b/8⌉); ×plain = total upload / plain; ring bound B = m/b × plain + \
            the key, share and unmask messages; ×bound = total upload / ring bound; phone ms = a \
            contributing phone's compute over the round (mean); max phone ms = the slowest \
            masked-input stage; server ms = the server's compute over the round; exact = the sum \
            equals the plain sum bit for bit.

            A second table gives zlib under masking for each bit width: the plain b-bit vector \
            and one masked vector (the plain one plus a mask, at the ring's m bits for the largest \
            cohort) through zlib at --zlib. The plain inputs are a rounded Gaussian around 2^(b−1) \
            with standard deviation 2^b/16, like a quantized update.

            Progress goes to stderr.

            Examples:
              kbd-sim bench secagg
              kbd-sim bench secagg --cohorts 100 --dropouts 0,0.2 --bits 16 --length 100000 --json
            """
    )

    @Option(name: .long, help: ArgumentHelp("Cohort sizes K, comma-separated (each 2…65,536).", valueName: "list"))
    var cohorts: String = "100,500,1000"

    @Option(
        name: .long,
        help: ArgumentHelp("Dropout fractions over the protocol, comma-separated, in [0, 1).", valueName: "list"))
    var dropouts: String = "0,0.05,0.2"

    @Option(name: .long, help: ArgumentHelp("Input bit widths b, comma-separated, 1…16.", valueName: "list"))
    var bits: String = "8,16"

    @Option(name: .long, help: "Coordinates per vector (default: the parameter count of --model).")
    var length: Int?

    @Option(name: .long, help: "The model whose parameter count is the default --length (a built-in config name).")
    var model: String = "cifg-small"

    @Option(name: .long, help: "γ: the fraction of phones assumed to collude with the server, for k and t.")
    var corrupt: Double = 0.05

    @Option(name: .long, help: "δ: the dropout fraction k and t are designed for (rounds abandon rarely up to it).")
    var maxDropout: Double = 0.2

    @Option(name: .long, help: "zlib level of the zlib-under-masking table, 1…9.")
    var zlib: Int = 1

    @Option(name: .long, help: "Seed of the inputs, the phones' simulated secrets and the dropouts.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Tasks the phones of a stage run on.")
    var parallelism: Int = 2

    @Option(
        name: .long,
        help: "Threads of the server's unmask pass, comma-separated to compare (default: every core; e.g. 1,2).")
    var serverThreads: String?

    @Flag(name: .long, help: "Print one JSON document instead of tables.")
    var json = false

    struct Plan {
        var cohorts: [Int]
        var dropouts: [Double]
        var bits: [Int]
        var length: Int
        var serverThreads: [Int]
    }

    func validate() throws { _ = try plan() }

    func plan() throws -> Plan {
        let ks = try BenchPrivacyCommand.list(
            cohorts, flag: "cohorts", { Int($0).flatMap { (2...65_536).contains($0) ? $0 : nil } },
            rule: "a cohort size in 2…65,536, e.g. 100,500,1000")
        let ds = try BenchPrivacyCommand.list(
            dropouts, flag: "dropouts", { Double($0).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } },
            rule: "a fraction in [0, 1), e.g. 0,0.05,0.2")
        let bs = try BenchPrivacyCommand.list(
            bits, flag: "bits", { Int($0).flatMap { (1...16).contains($0) ? $0 : nil } },
            rule: "a bit width in 1…16, e.g. 8,16")
        let n: Int
        if let length {
            guard length >= 1 else { throw ValidationError("--length must be at least 1 (got \(length))") }
            n = length
        } else {
            guard let config = ModelConfig.preset(named: model) else {
                throw ValidationError(
                    "--model '\(model)' is not a built-in config (\(ModelConfig.presets.map(\.name).joined(separator: ", "))); or give --length"
                )
            }
            n = ParameterLayout.parameterCount(for: config)
        }
        guard (0..<1).contains(corrupt), (0..<1).contains(maxDropout) else {
            throw ValidationError("--corrupt and --max-dropout are fractions in [0, 1)")
        }
        guard (1...9).contains(zlib) else { throw ValidationError("--zlib must be in 1…9 (got \(zlib))") }
        guard parallelism >= 1 else { throw ValidationError("--parallelism must be at least 1") }
        for k in ks {
            for b in bs {
                do { _ = try MaskRing(inputBits: b, cohortSize: k) } catch {
                    throw ValidationError("--cohorts \(k) with --bits \(b): \(error.message)")
                }
            }
        }
        let threads = try serverThreads.map {
            try BenchPrivacyCommand.list(
                $0, flag: "server-threads", { Int($0).flatMap { (1...256).contains($0) ? $0 : nil } },
                rule: "a thread count in 1…256, e.g. 1,2")
        }
        return Plan(
            cohorts: ks, dropouts: ds, bits: bs, length: n,
            serverThreads: threads ?? [ProcessInfo.processInfo.activeProcessorCount])
    }

    static let columns = [
        "K", "dropout", "bits", "m", "k", "t", "contributors", "up keys B", "up shares B", "up masked B", "up unmask B",
        "down keys B", "down shares B", "down masked B", "plain B", "×plain", "ring bound B", "×bound", "phone ms",
        "max phone ms", "server threads", "server ms", "exact",
    ]

    static let zlibColumns = [
        "bits", "m", "plain B", "plain zlib B", "masked B", "masked zlib B", "plain gain", "masked gain",
    ]

    /// A b-bit input: a rounded Gaussian around 2^(b−1), σ = 2^b/16, clamped (Box–Muller).
    static func input(bits: Int, length: Int, seed: UInt64, phone: Int) -> [UInt32] {
        var rng = SplitMix64(seed: seed, streams: 0x5EC, UInt64(phone))
        let center = Double(1 << (bits - 1))
        let sigma = Double(1 << bits) / 16
        let top = Double((1 << bits) - 1)
        return (0..<length).map { _ in
            let u1 = (Double(rng.next() >> 11) + 1) / Double(1 << 53)
            let u2 = Double(rng.next() >> 11) / Double(1 << 53)
            let g = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            return UInt32(min(max((center + sigma * g).rounded(), 0), top))
        }
    }

    static func deflatedSize(_ bytes: [UInt8], level: Int) -> Int {
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = compress2(&out, &size, bytes, uLong(bytes.count), Int32(level))
        precondition(rc == Z_OK, "zlib compress2 failed with \(rc)")
        return Int(size)
    }

    func run() async throws {
        let plan = try plan()
        var rows: [[String: Any]] = []
        var table = SummaryTable(columns: Self.columns)
        let total = plan.cohorts.count * plan.dropouts.count * plan.bits.count * plan.serverThreads.count
        var done = 0
        for k in plan.cohorts {
            let parameters = SecureAggregationParameters(
                cohortSize: k, corruptFraction: corrupt, dropoutFraction: maxDropout)
            for dropout in plan.dropouts {
                for b in plan.bits {
                    for threads in plan.serverThreads {
                        done += 1
                        status(
                            "[\(done)/\(total)] K = \(grouped(k)), dropout \(fixed(100 * dropout, digits: 0))%, \(b) bits, \(grouped(plan.length)) coordinates, k = \(parameters.neighbours), t = \(parameters.threshold)"
                        )
                        let config = try SecureAggregationConfiguration(
                            round: 1, parameters: parameters, inputBits: b, vectorLength: plan.length,
                            graphSeed: SplitMix64.derivedSeed(seed, streams: 0x6EA, UInt64(k)))
                        let schedule = SecureAggregationRound.dropoutSchedule(
                            cohortSize: k, fraction: dropout,
                            seed: SplitMix64.derivedSeed(seed, streams: 0xD20, UInt64(k)))
                        // The plain sum of the inputs handed out, kept by the benchmark beside the protocol
                        // (never by the server) to check the secure sum.
                        let plain = Mutex([UInt32](repeating: 0, count: plan.length))
                        let length = plan.length
                        let seed = self.seed
                        let started = now()
                        var round = SecureAggregationRound(
                            configuration: config, dropsAfter: schedule, seed: seed, parallelism: parallelism)
                        round.serverThreads = threads
                        let outcome = await round.run { phone in
                            let x = Self.input(bits: b, length: length, seed: seed, phone: phone)
                            plain.withLock { sum in
                                sum.withUnsafeMutableBufferPointer { s in for i in 0..<x.count { s[i] &+= x[i] } }
                            }
                            return x
                        }
                        let elapsed = now() - started
                        let row = Self.row(
                            k: k, dropout: dropout, bits: b, config: config, outcome: outcome, serverThreads: threads,
                            exact: (try? outcome.result.get().sum) == plain.withLock { $0 })
                        status(
                            "  \(row.cells[Self.columns.firstIndex(of: "exact")!] == "yes" ? "sum exact" : "SUM NOT EXACT or abandoned"), server \(row.cells[Self.columns.firstIndex(of: "server ms")!]) ms, phone \(row.cells[Self.columns.firstIndex(of: "phone ms")!]) ms, wall \(fixed(elapsed, digits: 1)) s"
                        )
                        if case .failure(let e) = outcome.result { status("  abandoned: \(e)") }
                        table.append(row.cells)
                        rows.append(row.json)
                    }
                }
            }
        }
        // zlib under masking.
        var zlibTable = SummaryTable(columns: Self.zlibColumns)
        var zlibRows: [[String: Any]] = []
        let largest = plan.cohorts.max()!
        for b in plan.bits {
            let ring = try MaskRing(inputBits: b, cohortSize: largest)
            let x = Self.input(bits: b, length: plan.length, seed: seed, phone: 0)
            let plainBytes = MaskRing.pack(x, bits: b)
            var masked = x
            var rng = SplitMix64(seed: seed, streams: 0x2EB)
            let maskSeed = (0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            MaskExpander.apply(seedBytes: maskSeed, negated: false, to: &masked)
            let maskedBytes = ring.pack(masked)
            let plainZ = Self.deflatedSize(plainBytes, level: zlib)
            let maskedZ = Self.deflatedSize(maskedBytes, level: zlib)
            zlibTable.append([
                "\(b)", "\(ring.bits)", grouped(plainBytes.count), grouped(plainZ), grouped(maskedBytes.count),
                grouped(maskedZ), fixed(Double(plainBytes.count) / Double(plainZ), digits: 3),
                fixed(Double(maskedBytes.count) / Double(maskedZ), digits: 3),
            ])
            zlibRows.append([
                "bits": b, "m": ring.bits, "plain B": plainBytes.count, "plain zlib B": plainZ,
                "masked B": maskedBytes.count, "masked zlib B": maskedZ,
                "plain gain": Double(plainBytes.count) / Double(plainZ),
                "masked gain": Double(maskedBytes.count) / Double(maskedZ),
            ])
        }
        if json {
            printJSON([
                "rows": rows, "zlib": zlibRows, "length": plan.length, "model": length == nil ? model : NSNull(),
                "corrupt": corrupt, "max dropout": maxDropout, "zlib level": zlib, "seed": Int64(bitPattern: seed),
                "parallelism": parallelism,
            ])
            return
        }
        print(table.render())
        print(
            """

            \(grouped(plan.length)) coordinates\(length == nil ? " (\(model))" : ""); k, t for γ = \(corrupt), δ = \(maxDropout), σ = 40, η = 20; PRG AES-256-CTR; phones on \(parallelism) tasks
            bytes are means per phone; up keys = advertise keys, up shares = share keys, down keys = neighbour keys, down shares = forwarded shares, down masked = unmask request

            zlib under masking (level \(zlib), m for K = \(grouped(largest))):
            """)
        print(zlibTable.render())
    }

    static func row(
        k: Int, dropout: Double, bits b: Int, config: SecureAggregationConfiguration,
        outcome: SecureAggregationRound.Outcome, serverThreads: Int, exact: Bool
    ) -> (cells: [String], json: [String: Any]) {
        func stage(_ s: SecureAggregationStage) -> SecureAggregationRound.StageCost? {
            outcome.stages.first { $0.stage == s }
        }
        let up = SecureAggregationStage.allCases.map { stage($0)?.bytesUpPerPhone ?? 0 }
        let down = [SecureAggregationStage.shareKeys, .maskedInput, .unmask].map { stage($0)?.bytesDownPerPhone ?? 0 }
        let plain = Double(config.ring.plainByteCount(config.vectorLength))
        let totalUp = up.reduce(0, +)
        let bound = Double(config.ring.bits) / Double(b) * plain + up[0] + up[1] + up[3]
        let contributors = (try? outcome.result.get().contributors.count) ?? 0
        let maxPhone = stage(.maskedInput)?.maxPhoneMilliseconds ?? 0
        let cells =
            [
                grouped(k), "\(fixed(100 * dropout, digits: 0))%", "\(b)", "\(config.ring.bits)",
                "\(config.parameters.neighbours)", "\(config.parameters.threshold)", grouped(contributors),
            ]
            + up.map { grouped(Int($0.rounded())) } + down.map { grouped(Int($0.rounded())) } + [
                grouped(Int(plain)), fixed(totalUp / plain, digits: 3), grouped(Int(bound.rounded())),
                fixed(totalUp / bound, digits: 4), fixed(outcome.phoneMilliseconds, digits: 1),
                fixed(maxPhone, digits: 1), "\(serverThreads)",
                fixed(outcome.serverMilliseconds, digits: 0), exact ? "yes" : "NO",
            ]
        var json: [String: Any] = [:]
        let values: [Any] =
            [k, dropout, b, config.ring.bits, config.parameters.neighbours, config.parameters.threshold, contributors]
            + up + down + [
                plain, totalUp / plain, bound, totalUp / bound, outcome.phoneMilliseconds, maxPhone, serverThreads,
                outcome.serverMilliseconds, exact,
            ]
        for (key, value) in zip(columns, values) { json[key] = value }
        json["stages"] = outcome.stages.map { s -> [String: Any] in
            [
                "stage": s.stage.rawValue, "phones": s.phones, "up B": s.bytesUpPerPhone, "down B": s.bytesDownPerPhone,
                "phone ms": s.phoneMilliseconds, "max phone ms": s.maxPhoneMilliseconds,
                "server ms": s.serverMilliseconds,
            ]
        }
        if case .failure(let e) = outcome.result { json["abandoned"] = e.description }
        return (cells, json)
    }
}
