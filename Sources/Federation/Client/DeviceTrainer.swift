import Dispatch
import FederatedCore
import Foundation
import KeyboardCorpus
import LanguageModels
import UpdateCodec

/// One device's job in a round: its text and its plan.
struct DeviceJob: Sendable {
    var device: Int
    var messages: [[Int32]]
    /// n-gram runs: the local day the device's text goes through.
    var textThroughDay: Int?
}

/// What a device hands to the transport.
struct DeviceReport: Sendable {
    var device: Int
    var bytes: [UInt8]
    var tokens: Int
    var evaluation: NextWordMetrics?
    var textThroughDay: Int?
    var trainSeconds: Double
}

/// The on-device side of a round, for a whole cohort at once: local training (or counting)
/// and encoding, on all cores.
///
/// One ``LSTMTrainer`` per worker thread serves every device that worker picks up (its
/// weights are reset to the downloaded model for each device). Each device's result depends
/// only on (run seed, round, device) and the model, never on which worker ran it, so the
/// cohort's reports are the same for any worker count.
final class CohortTrainer: @unchecked Sendable {
    let workers: Int
    private var trainers: [LSTMTrainer?]

    init(workers: Int) {
        self.workers = max(1, workers)
        trainers = Array(repeating: nil, count: self.workers)
    }

    /// Runs `jobs` and returns one result per job, in job order; a device whose update cannot
    /// be encoded (its training diverged) gets a failure naming the reason.
    func run(
        _ jobs: [DeviceJob], plan: TrainingPlan, model: Model, runSeed: UInt64
    ) -> [Result<DeviceReport, FederationError>] {
        nonisolated(unsafe) var results = [Result<DeviceReport, FederationError>?](repeating: nil, count: jobs.count)
        let next = NextIndex()
        results.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let out = slots
            DispatchQueue.concurrentPerform(iterations: min(workers, max(jobs.count, 1))) { worker in
                while let i = next.take(below: jobs.count) {
                    out[i] = self.work(jobs[i], plan: plan, model: model, runSeed: runSeed, worker: worker)
                }
            }
        }
        return results.map { $0! }
    }

    /// The downloaded global model, decoded once per round.
    enum Model: Sendable {
        case neural(LSTMLanguageModel, scheme: CodecScheme)
        case ngram(order: Int, vocabularyCount: Int)
    }

    private func work(_ job: DeviceJob, plan: TrainingPlan, model: Model, runSeed: UInt64, worker: Int) -> Result<
        DeviceReport, FederationError
    > {
        let started = DispatchTime.now().uptimeNanoseconds
        func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        switch model {
        case .ngram(let order, let vocabularyCount):
            let counts = NGramCounts(order: order, messages: job.messages)
            let bytes = NGramUpdateWire.encode(
                counts, vocabularyCount: vocabularyCount,
                envelope: .init(
                    runID: UInt64(plan.runID), round: plan.round, device: job.device, exampleCount: counts.tokenCount))
            return .success(
                DeviceReport(
                    device: job.device, bytes: bytes, tokens: counts.tokenCount, evaluation: nil,
                    textThroughDay: job.textThroughDay, trainSeconds: seconds()))
        case .neural(let global, let scheme):
            var evaluation: NextWordMetrics?
            if plan.federatedEval {
                // The downloaded model on the device's own text, before it trains on it.
                var predictor = LSTMPredictor(model: global)
                evaluation = NextWordEvaluator.evaluate(&predictor, messages: job.messages)
            }
            let options = TrainingOptions(
                batchSize: plan.batchSize, learningRate: plan.learningRate,
                optimizer: plan.optimizer == "adam" ? .adam(clipNorm: plan.clipNorm) : .sgd(clipNorm: plan.clipNorm),
                seed: runSeed, threads: 1, maxMessageLength: plan.maxMessageLength, dropout: plan.dropout ?? 0)
            let trainer = trainers[worker] ?? LSTMTrainer(model: global, options: options)
            trainers[worker] = trainer
            let seed = derivedSeed(runSeed, 0x10CA1, UInt64(plan.round), UInt64(job.device))
            let result = trainer.trainLocally(
                from: global.parameters, on: job.messages, epochs: plan.localEpochs, seed: seed)
            let metadata = UpdateMetadata(
                runID: UInt64(plan.runID), round: UInt32(plan.round), layoutHash: global.layoutHash,
                exampleCount: UInt32(clamping: result.tokenCount), deviceID: UInt64(job.device))
            let codecSeed = derivedSeed(runSeed, 0xC0DEC, UInt64(plan.round), UInt64(job.device))
            do {
                let bytes = try UpdateEncoder(scheme: scheme).encode(result.delta, metadata: metadata, seed: codecSeed)
                return .success(
                    DeviceReport(
                        device: job.device, bytes: bytes, tokens: result.tokenCount, evaluation: evaluation,
                        textThroughDay: nil, trainSeconds: seconds()))
            } catch {
                return .failure(
                    FederationError(.rejected, "device \(job.device) could not encode its update: \(error.message)"))
            }
        }
    }
}

/// A shared work counter for the worker threads.
private final class NextIndex: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

/// A seed for one purpose, device and round, drawn from the run's seed.
func derivedSeed(_ seed: UInt64, _ streams: UInt64...) -> UInt64 {
    var rng = SplitMix64(seed: seed)
    for s in streams { rng = SplitMix64(seed: rng.next() ^ SplitMix64.mix(s)) }
    return rng.next()
}
