import Dispatch
import FederatedCore
import Federation
import FederationProtocol
import Foundation
import LanguageModelTypes
import LanguageModels
import UpdateCodec

/// A phone of a neural run: it evaluates the downloaded model on its own text if asked,
/// trains it locally with the run's ``ClientTrainingConfiguration``, and uploads the delta
/// encoded with the run's codec.
///
/// One ``LSTMTrainer`` per worker thread serves every device that worker picks up (its
/// weights are reset to the downloaded model for each device).
final class NeuralDeviceModel: DeviceModel, @unchecked Sendable {
    // @unchecked: the trainer table is guarded by `lock`, and trainer `w` is used only by
    // worker `w` (CohortTrainer runs one job at a time per worker).
    let config: ModelConfig
    let scheme: CodecScheme
    let uploadTiming: RunConfiguration.UploadTiming
    let messageLimit: Int?
    /// Under secure aggregation, m: the bits a masked coordinate takes on the wire.
    let maskedBits: Int?
    /// The run's compromised phones and their attack (nil: none).
    let attack: DeviceAttack?
    private var trainers: [Int: LSTMTrainer] = [:]
    private let lock = NSLock()

    init(config: ModelConfig, configuration: RunConfiguration, attack: DeviceAttack? = nil) {
        self.config = config
        self.attack = attack
        scheme = configuration.codec.value
        uploadTiming = configuration.effectiveUploadTiming
        messageLimit = configuration.client.messageCap
        maskedBits = configuration.secureAggregationGrid.map { grid in
            // Distributed DP: the ring is fitted per round and at most the design's width.
            if let skellam = grid.skellam { return skellam.designRingBits }
            return grid.bits
                + (configuration.cohort <= 1 ? 0 : Int.bitWidth - (configuration.cohort - 1).leadingZeroBitCount)
        }
    }

    var costPerTrainingToken: Double { 1 }

    /// The codec's bits per value over the model's values (under secure aggregation the
    /// masked m = b + ⌈log2 K⌉ bits), or the float32 size for every codec with
    /// ``RunConfiguration/UploadTiming/float32Size``.
    func estimatedUpdateBytes(modelBytes: Int) -> Int {
        switch uploadTiming {
        case .codecSize: modelBytes * (maskedBits ?? scheme.quantization.bitsPerValue) / 32
        case .float32Size: modelBytes
        }
    }

    func job(device: Int, plan: TrainingPlan, text: RoundText) -> DeviceJob {
        let messages = text.messages(of: device)
        return DeviceJob(device: device, messages: attack?.messages(messages, device: device) ?? messages)
    }

    func prepareRound(download: [UInt8]) throws -> any CohortWork {
        var model = try LSTMLanguageModel(config: config)
        let decoded = try ModelDownload.decodeWeights(
            download, layoutHash: model.layoutHash, parameterCount: model.parameters.count)
        model.parameters = decoded.weights
        return NeuralCohortWork(global: model, scheme: scheme, device: self)
    }

    /// Worker `worker`'s trainer, made on its first use with `options`.
    fileprivate func trainer(worker: Int, model: LSTMLanguageModel, options: TrainingOptions) -> LSTMTrainer {
        lock.lock()
        defer { lock.unlock() }
        if let t = trainers[worker] { return t }
        let t = LSTMTrainer(model: model, options: options)
        trainers[worker] = t
        return t
    }
}

/// A neural round's work: local training from the downloaded weights, then encoding.
struct NeuralCohortWork: CohortWork {
    let global: LSTMLanguageModel
    let scheme: CodecScheme
    let device: NeuralDeviceModel

    func run(_ job: DeviceJob, plan: TrainingPlan, runSeed: UInt64, worker: Int) -> Result<
        DeviceReport, FederationError
    > {
        let started = DispatchTime.now().uptimeNanoseconds
        var evaluation: NextWordMetrics?
        if plan.federatedEval {
            // The downloaded model on the device's own text, before it trains on it.
            var predictor = LSTMPredictor(model: global)
            evaluation = NextWordEvaluator.evaluate(&predictor, messages: job.messages)
        }
        let trainer = device.trainer(worker: worker, model: global, options: plan.client.trainingOptions(seed: runSeed))
        let seed = SplitMix64.derivedSeed(runSeed, streams: 0x10CA1, UInt64(plan.round), UInt64(job.device))
        let result = trainer.trainLocally(
            from: global.parameters, on: job.messages, epochs: plan.client.epochs, seed: seed)
        var delta = result.delta
        device.attack?.apply(to: &delta, device: job.device, round: plan.round, runSeed: runSeed)
        let metadata = UpdateMetadata(
            runID: UInt64(plan.runID), round: UInt32(plan.round), layoutHash: global.layoutHash,
            exampleCount: UInt32(clamping: result.tokenCount), deviceID: UInt64(job.device))
        let codecSeed = SplitMix64.derivedSeed(runSeed, streams: 0xC0DEC, UInt64(plan.round), UInt64(job.device))
        if let encoding = plan.secureAggregation?.skellam {
            // Distributed DP: clip, scale and round to integers now; the Skellam noise is added
            // in the masked-input stage, once the round's threshold is known.
            var dither = SplitMix64(seed: codecSeed)
            let words = delta.withUnsafeBufferPointer {
                DistributedSkellamPhone.encode($0, encoding: encoding, dither: &dither)
            }
            return .success(
                DeviceReport(
                    device: job.device, bytes: words, tokens: result.tokenCount, evaluation: evaluation,
                    textThroughDay: nil,
                    trainSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
        }
        if let grid = plan.secureAggregation {
            // Secure aggregation: clip and quantize on the cohort's grid; the codes are masked
            // later, in the protocol's masked-input stage.
            var dither = SplitMix64(seed: codecSeed)
            var codes = [UInt8](repeating: 0, count: delta.count)
            delta.withUnsafeMutableBufferPointer { d in
                codes.withUnsafeMutableBufferPointer { grid.quantizer.clipAndQuantize(d, into: $0, dither: &dither) }
            }
            return .success(
                DeviceReport(
                    device: job.device, bytes: codes, tokens: result.tokenCount, evaluation: evaluation,
                    textThroughDay: nil,
                    trainSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
        }
        do {
            let bytes = try UpdateEncoder(scheme: scheme).encode(delta, metadata: metadata, seed: codecSeed)
            return .success(
                DeviceReport(
                    device: job.device, bytes: bytes, tokens: result.tokenCount, evaluation: evaluation,
                    textThroughDay: nil,
                    trainSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
        } catch {
            return .failure(
                FederationError(
                    .rejected, "device \(job.device) could not encode its update: \(error.message)", cause: error))
        }
    }
}
