import Dispatch
import Federation
import FederationProtocol
import LanguageModels

/// A phone of an n-gram run: it counts the n-grams of the text it typed since its last
/// contribution and uploads the counts.
struct NGramDeviceModel: DeviceModel {
    let order: Int
    let vocabularyCount: Int
    /// Differentially private counts: the phone cuts its own counts to this bound before it
    /// uploads (the server enforces it again); nil for exact counts.
    var bound: NGramCounts.ContributionBound?

    /// Counting a token's n-grams costs a phone a thousandth of a training step on it: a few
    /// hash-table updates against the forward and backward pass of a million-parameter LSTM
    /// (about 10⁷ floating-point operations per token). An n-gram device's round is
    /// therefore almost all download and upload, and a heavy typist is not a straggler.
    var costPerTrainingToken: Double { 0.001 }

    /// Counting is cheap: a device contributes all the text it has not contributed before.
    var messageLimit: Int? { nil }

    /// n-gram updates are small next to the model.
    func estimatedUpdateBytes(modelBytes: Int) -> Int { 64 * 1024 }

    func job(device: Int, plan: TrainingPlan, text: RoundText) -> DeviceJob {
        DeviceJob(
            device: device, messages: text.messages(of: device, sinceDay: plan.contributedThroughDay),
            textThroughDay: text.currentDay(of: device))
    }

    func prepareRound(download: [UInt8]) throws -> any CohortWork { self }
}

extension NGramDeviceModel: CohortWork {
    func run(_ job: DeviceJob, plan: TrainingPlan, runSeed: UInt64, worker: Int) -> Result<
        DeviceReport, FederationError
    > {
        let started = DispatchTime.now().uptimeNanoseconds
        var counts = NGramCounts(order: order, messages: job.messages)
        if let bound { counts = counts.bounded(by: bound).counts }
        let bytes = NGramUpdateWire.encode(
            counts, vocabularyCount: vocabularyCount,
            envelope: .init(
                runID: UInt64(plan.runID), round: plan.round, device: job.device, exampleCount: counts.tokenCount))
        return .success(
            DeviceReport(
                device: job.device, bytes: bytes, tokens: counts.tokenCount, evaluation: nil,
                textThroughDay: job.textThroughDay,
                trainSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
    }
}
