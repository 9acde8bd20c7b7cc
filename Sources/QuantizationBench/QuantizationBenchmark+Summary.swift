import FederationProtocol
import Foundation
public import RunStore

extension QuantizationBenchmark {
    /// What one committed run measured, read back from the run store.
    public struct RunMeasurement: Sendable, Equatable {
        /// One committed round.
        public struct Round: Sendable, Equatable {
            public var number: Int
            /// Updates aggregated (each one upload).
            public var reported: Int
            /// Update bytes received (on the wire, after the codec and zlib).
            public var bytesUp: Int64
            /// Server acc@1 / acc@3 on the evaluation users, if the round was evaluated.
            public var accuracyAt1: Double?
            public var accuracyAt3: Double?
            /// SHA-256 of the global model after the round.
            public var modelSHA256: String
            /// What identifies the cohort: virtual start and end, selected, reported, dropped,
            /// stragglers, surplus and tokens trained on. Equal for every codec of one seed.
            public var cohortKey: [Int64]
        }

        public var experiment: Experiment
        public var seed: UInt64
        public var runID: Int64
        /// Rounds the run was configured for.
        public var plannedRounds: Int
        /// Committed rounds, in order.
        public var rounds: [Round]
        /// How many rounds each device reported in (the store's participation table).
        public var participation: [UInt64: Int]
        /// The run's ε after its last committed round, and its δ (private runs).
        public var epsilon: Double?
        public var delta: Double?

        /// Whether every planned round is committed.
        public var isComplete: Bool { rounds.count == plannedRounds }
        /// acc@1 and acc@3 of the last evaluated round.
        public var finalAccuracy: (at1: Double, at3: Double)? {
            guard let last = rounds.last(where: { $0.accuracyAt1 != nil }) else { return nil }
            return (last.accuracyAt1!, last.accuracyAt3 ?? 0)
        }

        /// The first evaluated round with acc@1 ≥ `target`, and the update megabytes
        /// (10⁶ bytes) uploaded through it; nil if no evaluation reached it.
        public func firstRound(reaching target: Double) -> (round: Int, megabytes: Double)? {
            var bytes: Int64 = 0
            for r in rounds {
                bytes += r.bytesUp
                if let a = r.accuracyAt1, a >= target { return (r.number, Double(bytes) / 1e6) }
            }
            return nil
        }
    }

    /// A mean over seeds and its spread.
    public struct Spread: Sendable, Equatable {
        /// The per-seed values, in seed order.
        public var values: [Double]
        /// Their mean.
        public var mean: Double { values.reduce(0, +) / Double(max(1, values.count)) }
        /// Half the range, (max − min) / 2: the `±` printed (0 for one seed).
        public var halfRange: Double { ((values.max() ?? 0) - (values.min() ?? 0)) / 2 }
    }

    /// One line of the table: one experiment over its complete runs.
    public struct Row: Sendable, Equatable {
        public var experiment: Experiment
        /// Seeds of the complete runs summarized.
        public var seeds: [UInt64]
        /// Their run ids, in seed order.
        public var runIDs: [Int64]
        /// Wire bits per parameter: bytes up × 8 / (uploads × parameters), over every upload
        /// of every summarized run (headers, scales and zlib included).
        public var bitsPerParameter: Double
        /// Mean bytes one device uploads in one round.
        public var uploadBytesPerDeviceRound: Double
        /// The float32 reference upload ÷ ``uploadBytesPerDeviceRound``.
        public var ratioToFloat32: Double
        /// Final acc@1 and acc@3 over seeds.
        public var accuracyAt1: Spread
        public var accuracyAt3: Spread
        /// Mean over seeds of the first evaluated round reaching the target, and of the update
        /// MB uploaded through it; nil unless every seed reached the target.
        public var roundsToTarget: Double?
        public var megabytesToTarget: Double?
        /// How many seeds reached the target.
        public var seedsReachingTarget: Int
        /// The final global model's SHA-256 per seed.
        public var finalModelSHA256: [String]
        /// ε at δ after the last round (the mean over seeds; private experiments only).
        public var epsilon: Double?
        public var delta: Double?
        /// 1 − acc@1 / (acc@1 of the same codec without DP), over the seed means (private
        /// experiments whose non-private run is in the benchmark).
        public var relativeLossAt1: Double?
    }

    /// Where the float32 reference upload size came from.
    public enum Float32Basis: String, Sendable, Equatable {
        /// Measured: the mean upload of the `f32` codec at zlib 0 in this benchmark.
        case measured
        /// Computed: the exact size of a float32 update message for the model (header + 4
        /// bytes per parameter + CRC), as `f32` at zlib 0 was not in the list.
        case computed
    }

    /// The table and what it was computed against.
    public struct Summary: Sendable, Equatable {
        public var rows: [Row]
        /// The acc@1 target.
        public var target: Double
        /// How the target was chosen, e.g. `95% of f32's final mean acc@1 (0.2100)`.
        public var targetBasis: String
        /// Bytes of one float32 update (the ratio's numerator), and where it came from.
        public var float32UploadBytes: Double
        public var float32Basis: Float32Basis
        /// Parameters of the model.
        public var parameterCount: Int
        /// Whether, for every seed, every summarized run had the same cohorts: per round the
        /// same virtual times, selected, reported, dropped, straggling and surplus counts and
        /// tokens, and the same participating devices. Masked (`+secagg`) runs are left out:
        /// their phones also drop out between the protocol's stages.
        public var cohortsIdentical: Bool
    }

    /// Summarizes complete runs into one row per experiment (experiments without a complete
    /// run are left out).
    ///
    /// - Parameters:
    ///   - measurements: the runs, any order; incomplete ones are ignored.
    ///   - parameterCount: the model's parameters.
    ///   - float32UpdateBytes: the exact size of one float32 update message of the model,
    ///     used when `f32` at zlib 0 is not among the experiments.
    public func summarize(_ measurements: [RunMeasurement], parameterCount: Int, float32UpdateBytes: Int) -> Summary {
        let complete = measurements.filter(\.isComplete)
        var grouped: [(Experiment, [RunMeasurement])] = []
        for e in experiments {
            let runs = seeds.compactMap { seed in complete.first { $0.experiment == e && $0.seed == seed } }
            if !runs.isEmpty { grouped.append((e, runs)) }
        }
        func uploads(_ runs: [RunMeasurement]) -> (bytes: Double, count: Int) {
            var bytes: Int64 = 0
            var count = 0
            for run in runs {
                for r in run.rounds {
                    bytes += r.bytesUp
                    count += r.reported
                }
            }
            return (Double(bytes), count)
        }
        var float32Bytes = Double(float32UpdateBytes)
        var basis = Float32Basis.computed
        if let (_, runs) = grouped.first(where: { $0.0.isFloat32 && $0.0.zlibLevel == 0 && $0.0.codec == "f32" }) {
            let u = uploads(runs)
            if u.count > 0 {
                float32Bytes = u.bytes / Double(u.count)
                basis = .measured
            }
        }
        func finals(_ runs: [RunMeasurement]) -> (Spread, Spread) {
            let f = runs.map { $0.finalAccuracy ?? (0, 0) }
            return (Spread(values: f.map(\.at1)), Spread(values: f.map(\.at3)))
        }
        // The target: as given, or 95% of the float32 (else the best) experiment's final acc@1.
        let target: Double
        let targetBasis: String
        if let t = self.target {
            target = t
            targetBasis = "given (--target)"
        } else if let reference = grouped.first(where: { $0.0.isFloat32 })
            ?? grouped.max(by: { finals($0.1).0.mean < finals($1.1).0.mean })
        {
            let mean = finals(reference.1).0.mean
            target = Self.defaultTargetFraction * mean
            let name =
                reference.0.isFloat32
                ? "float32 (\(reference.0.codec))" : "the best codec (\(reference.0.codec), z\(reference.0.zlibLevel))"
            targetBasis = "\(Int(Self.defaultTargetFraction * 100))% of \(name) final mean acc@1 \(formatted(mean))"
        } else {
            target = 1
            targetBasis = "no complete run"
        }
        var rows: [Row] = []
        for (e, runs) in grouped {
            let u = uploads(runs)
            let perUpload = u.count > 0 ? u.bytes / Double(u.count) : 0
            let (a1, a3) = finals(runs)
            let reached = runs.compactMap { $0.firstRound(reaching: target) }
            let all = reached.count == runs.count
            rows.append(
                Row(
                    experiment: e, seeds: runs.map(\.seed), runIDs: runs.map(\.runID),
                    bitsPerParameter: u.count > 0 ? u.bytes * 8 / (Double(u.count) * Double(parameterCount)) : 0,
                    uploadBytesPerDeviceRound: perUpload, ratioToFloat32: perUpload > 0 ? float32Bytes / perUpload : 0,
                    accuracyAt1: a1, accuracyAt3: a3,
                    roundsToTarget: all ? Double(reached.map(\.round).reduce(0, +)) / Double(runs.count) : nil,
                    megabytesToTarget: all ? reached.map(\.megabytes).reduce(0, +) / Double(runs.count) : nil,
                    seedsReachingTarget: reached.count,
                    finalModelSHA256: runs.map { $0.rounds.last?.modelSHA256 ?? "" },
                    epsilon: e.privacy == nil ? nil : Spread(values: runs.compactMap(\.epsilon)).mean,
                    delta: runs.first?.delta))
        }
        for i in rows.indices where rows[i].experiment.privacy != nil {
            let reference = rows.first { $0.experiment == rows[i].experiment.nonPrivate }
            if let r = reference, r.accuracyAt1.mean > 0 {
                rows[i].relativeLossAt1 = 1 - rows[i].accuracyAt1.mean / r.accuracyAt1.mean
            }
        }
        return Summary(
            rows: rows, target: target, targetBasis: targetBasis, float32UploadBytes: float32Bytes, float32Basis: basis,
            parameterCount: parameterCount,
            cohortsIdentical: Self.cohortsIdentical(complete.filter { !$0.experiment.secureAggregation }))
    }

    /// Whether runs of the same seed saw the same cohorts (see ``Summary/cohortsIdentical``).
    public static func cohortsIdentical(_ runs: [RunMeasurement]) -> Bool {
        let bySeed = Dictionary(grouping: runs, by: \.seed)
        return bySeed.values.allSatisfy { group in
            let first = group[0]
            return group.allSatisfy {
                $0.rounds.map(\.cohortKey) == first.rounds.map(\.cohortKey) && $0.participation == first.participation
            }
        }
    }
}

private func formatted(_ x: Double) -> String { String(format: "%.4f", x) }

extension QuantizationBenchmark.RunMeasurement {
    /// Reads run `runID` from `store`.
    public init(
        store: RunStore, runID: Int64, experiment: QuantizationBenchmark.Experiment, seed: UInt64, plannedRounds: Int
    ) throws {
        let evaluations = try store.evaluations(ofRun: runID).filter(\.isHeadline)
        let byRound = Dictionary(evaluations.map { ($0.round, $0) }, uniquingKeysWith: { a, _ in a })
        self.experiment = experiment
        self.seed = seed
        self.runID = runID
        self.plannedRounds = plannedRounds
        rounds = try store.rounds(ofRun: runID).map { r in
            Round(
                number: r.number, reported: r.reported, bytesUp: r.bytesUp, accuracyAt1: byRound[r.number]?.acc1,
                accuracyAt3: byRound[r.number]?.acc3, modelSHA256: r.modelSHA256,
                cohortKey: [
                    Int64(r.virtualStart), Int64(r.virtualEnd), Int64(r.selected), Int64(r.reported), Int64(r.dropped),
                    Int64(r.stragglers), Int64(r.surplus), r.tokens, r.abandoned ? 1 : 0,
                ])
        }
        participation = try store.participation(ofRun: runID)
        let last = try store.stageReports(ofRun: runID).last { $0.stage == "privacy" }
        if let json = last?.json, let status = try? JSONDecoder().decode(PrivacyStatus.self, from: Data(json.utf8)) {
            epsilon = status.epsilon
            delta = status.delta
        }
    }
}
