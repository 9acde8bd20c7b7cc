import FederationProtocol
import LanguageModelTypes

/// The phones' side of a model kind: what a device does with its text in a round (TFF's
/// client work; Flower's ClientApp). One conformance per kind: ``NeuralDeviceModel`` trains
/// and uploads a quantized weight delta, ``NGramDeviceModel`` counts and uploads n-grams.
protocol DeviceModel: Sendable {
    /// Phone time one token costs, as a share of one LSTM training step on it (the fleet's
    /// virtual timing).
    var costPerTrainingToken: Double { get }

    /// At most this many of its messages a device works on in a round (nil: all its text).
    var messageLimit: Int? { get }

    /// The upload size the fleet's timing assumes before the device has trained.
    func estimatedUpdateBytes(modelBytes: Int) -> Int

    /// The device's job this round: the text it works on.
    func job(device: Int, plan: TrainingPlan, text: RoundText) -> DeviceJob

    /// Decodes the round's model download once, for the whole cohort.
    func prepareRound(download: [UInt8]) throws -> any CohortWork
}

/// One round's on-device work for every device of the cohort, from one decoded download.
protocol CohortWork: Sendable {
    /// Runs one device's job on worker thread `worker`; the result depends only on (run
    /// seed, round, device) and the model, never on the worker.
    func run(_ job: DeviceJob, plan: TrainingPlan, runSeed: UInt64, worker: Int) -> Result<
        DeviceReport, FederationError
    >
}

/// One device's job in a round: its text.
struct DeviceJob: Sendable {
    var device: Int
    var messages: [[Int32]]
    /// n-gram runs: the local day the device's text goes through.
    var textThroughDay: Int?
}

/// What a device hands to the transport.
struct DeviceReport: Sendable {
    var device: Int
    /// The encoded update; under secure aggregation, one code per coordinate on the round's grid.
    var bytes: [UInt8]
    var tokens: Int
    var evaluation: NextWordMetrics?
    var textThroughDay: Int?
    var trainSeconds: Double
}
