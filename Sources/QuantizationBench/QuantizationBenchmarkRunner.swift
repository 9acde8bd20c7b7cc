public import Federation
public import FederationFleet
import FederationProtocol
public import FederationServer
import Foundation
public import LanguageModelTypes
import UpdateCodec

/// Runs a ``QuantizationBenchmark``: one in-process federated run per (seed, experiment),
/// each committed to the server's run store like any `kbd-sim run`.
///
/// Runs go seed-major (every codec on seed 1, then on seed 2, …). ``requestStop()`` stops
/// the current run at its next round boundary (its committed rounds stay in the store,
/// resumable with `kbd-sim run --resume`) and starts no further run.
public final class QuantizationBenchmarkRunner: @unchecked Sendable {
    // @unchecked: `stopRequested` and `current` are guarded by `lock`; the rest is set in init.
    public let benchmark: QuantizationBenchmark
    public let server: AggregationServer
    /// Worker threads for local training.
    public let workers: Int?
    private let dataset: FederatedDataset
    private let observer: any QuantizationBenchmarkObserver
    private let lock = NSLock()
    private var stopRequested = false
    private var current: FederatedRunner?

    /// A runner over `server` (its store receives every run); `dataset` is the corpus of
    /// `benchmark.base`, loaded once and shared by every run.
    /// `workers` threads train (nil: all cores); `observer` hears of every run and round.
    public init(
        benchmark: QuantizationBenchmark, server: AggregationServer, dataset: FederatedDataset, workers: Int? = nil,
        observer: any QuantizationBenchmarkObserver = UnobservedBenchmark()
    ) {
        self.benchmark = benchmark
        self.server = server
        self.dataset = dataset
        self.workers = workers
        self.observer = observer
    }

    /// Stops after the current round's commit and starts no further run (safe from a signal
    /// handler's queue).
    public func requestStop() {
        let runner = withLock { () -> FederatedRunner? in
            stopRequested = true
            return current
        }
        runner?.requestStop()
    }

    private func withLock<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// How a benchmark ended.
    public struct Outcome: Sendable {
        /// Every run started, complete or not, in the order run.
        public var measurements: [QuantizationBenchmark.RunMeasurement]
        /// The table over the complete runs.
        public var summary: QuantizationBenchmark.Summary
        /// Whether every planned run is complete.
        public var finished: Bool
        /// The model every run starts from, on the evaluation users, when the base
        /// configuration asks for it (``RunConfiguration/evaluateStart``). It is the same for
        /// every codec and seed: the initial weights come from the model's own seed.
        public var startEvaluation: NextWordMetrics?
    }

    /// Runs every planned run (or until stopped) and summarizes the complete ones.
    public func run() async throws -> Outcome {
        let planned = benchmark.plannedRuns
        var measurements: [QuantizationBenchmark.RunMeasurement] = []
        var start: NextWordMetrics?
        for (index, run) in planned.enumerated() {
            let experiment = run.experiment
            let seed = run.seed
            let runner = FederatedRunner(
                transport: InProcessTransport(server: server), dataset: dataset, workers: workers,
                observer: BenchmarkRunObserver(experiment: experiment, seed: seed, observer: observer))
            let stop = withLock { () -> Bool in
                if !stopRequested { current = runner }
                return stopRequested
            }
            if stop { break }
            observer.runStarting(experiment, seed: seed, index: index + 1, of: planned.count)
            var configuration = benchmark.configuration(for: experiment, seed: seed)
            // Every run starts from the same weights: evaluate them once, with the first run.
            if index > 0 { configuration.evaluateStart = nil }
            let outcome = try await runner.run(configuration: configuration)
            if index == 0 { start = outcome.attachment.startEvaluation }
            measurements.append(
                try QuantizationBenchmark.RunMeasurement(
                    store: server.store, runID: outcome.attachment.runID, experiment: experiment, seed: seed,
                    plannedRounds: configuration.rounds))
            if !outcome.finished { break }
        }
        withLock { current = nil }
        let (parameters, float32Bytes) = try modelSizes()
        let summary = benchmark.summarize(measurements, parameterCount: parameters, float32UpdateBytes: float32Bytes)
        let finished = measurements.count == planned.count && measurements.allSatisfy(\.isComplete)
        return Outcome(measurements: measurements, summary: summary, finished: finished, startEvaluation: start)
    }

    /// The model's parameter count and the exact size of one float32 update message
    /// (header + 4 bytes per parameter + CRC), encoded with the `f32` scheme.
    public func modelSizes() throws -> (parameters: Int, float32UpdateBytes: Int) {
        try benchmark.base.updateSizes() ?? (0, 0)
    }
}

/// What a ``QuantizationBenchmarkRunner`` tells whoever started it.
public protocol QuantizationBenchmarkObserver: Sendable {
    /// A run is starting: its experiment, seed, and position (1-based) of `total`.
    func runStarting(_ experiment: QuantizationBenchmark.Experiment, seed: UInt64, index: Int, of total: Int)
    /// A round of a run was committed.
    func roundCommitted(_ experiment: QuantizationBenchmark.Experiment, seed: UInt64, _ progress: RoundProgress)
}

extension QuantizationBenchmarkObserver {
    public func runStarting(_ experiment: QuantizationBenchmark.Experiment, seed: UInt64, index: Int, of total: Int) {}
    public func roundCommitted(_ experiment: QuantizationBenchmark.Experiment, seed: UInt64, _ progress: RoundProgress)
    {}
}

/// A benchmark nobody watches.
public struct UnobservedBenchmark: QuantizationBenchmarkObserver {
    public init() {}
}

/// Forwards one run's rounds to the benchmark's observer, with the run's experiment and seed.
private struct BenchmarkRunObserver: RunObserver {
    let experiment: QuantizationBenchmark.Experiment
    let seed: UInt64
    let observer: any QuantizationBenchmarkObserver

    func roundCommitted(_ progress: RoundProgress) { observer.roundCommitted(experiment, seed: seed, progress) }
}
