import Foundation
import LanguageModels
import UpdateCodec

/// Runs a ``QuantizationBenchmark``: one in-process federated run per (seed, experiment),
/// each committed to the server's run store like any `kbd-sim run`.
///
/// Runs go seed-major (every codec on seed 1, then on seed 2, …). ``requestStop()`` stops
/// the current run at its next round boundary (its committed rounds stay in the store,
/// resumable with `kbd-sim run --resume`) and starts no further run.
// @unchecked: callbacks are set before run(); the stop flag is locked.
public final class QuantizationBenchmarkRunner: @unchecked Sendable {
    public let benchmark: QuantizationBenchmark
    public let server: AggregationServer
    private let dataset: FederatedDataset
    /// Worker threads for local training (default: all cores).
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// Called before each run starts: its experiment, seed, and position (1-based) of total.
    public var onRunStart:
        (
            @Sendable (_ experiment: QuantizationBenchmark.Experiment, _ seed: UInt64, _ index: Int, _ total: Int) ->
                Void
        )?
    /// Called after each committed round of each run.
    public var onRound:
        (@Sendable (_ experiment: QuantizationBenchmark.Experiment, _ seed: UInt64, _ progress: RoundProgress) -> Void)?
    private let lock = NSLock()
    private var stopRequested = false
    private var current: FederatedRunner?

    /// A runner over `server` (its store receives every run); `dataset` is the corpus of
    /// `benchmark.base`, loaded once and shared by every run.
    public init(benchmark: QuantizationBenchmark, server: AggregationServer, dataset: FederatedDataset) {
        self.benchmark = benchmark
        self.server = server
        self.dataset = dataset
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
    }

    /// Runs every planned run (or until stopped) and summarizes the complete ones.
    public func run() async throws -> Outcome {
        let planned = benchmark.plannedRuns
        var measurements: [QuantizationBenchmark.RunMeasurement] = []
        for (index, run) in planned.enumerated() {
            let runner = FederatedRunner(transport: InProcessTransport(server: server), dataset: dataset)
            runner.workers = workers
            let experiment = run.experiment
            let seed = run.seed
            if let onRound { runner.onRound = { onRound(experiment, seed, $0) } }
            let stop = withLock { () -> Bool in
                if !stopRequested { current = runner }
                return stopRequested
            }
            if stop { break }
            onRunStart?(experiment, seed, index + 1, planned.count)
            let configuration = benchmark.configuration(for: experiment, seed: seed)
            let outcome = try await runner.run(configuration: configuration)
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
        return Outcome(measurements: measurements, summary: summary, finished: finished)
    }

    /// The model's parameter count and the exact size of one float32 update message
    /// (header + 4 bytes per parameter + CRC), encoded with the `f32` scheme.
    public func modelSizes() throws -> (parameters: Int, float32UpdateBytes: Int) {
        guard case .neural(let config) = benchmark.base.model else { return (0, 0) }
        let model = try LSTMLanguageModel(config: config)
        let count = model.parameters.count
        let zeros = [Float](repeating: 0, count: count)
        let metadata = UpdateMetadata(runID: 0, round: 0, layoutHash: model.layoutHash, exampleCount: 0, deviceID: 0)
        let bytes = try UpdateEncoder(scheme: CodecScheme()).encode(zeros, metadata: metadata, seed: 0)
        return (count, bytes.count)
    }
}
