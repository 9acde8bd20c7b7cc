import Aggregation
import FederatedCore
import Federation
import FederationProtocol
import KeyboardCorpus
import LanguageModelTypes

/// The server's side of a model kind: the global model and everything that must survive a
/// restart with it (TFF's server state; Flower's Strategy holds the same).
///
/// One conformance per kind: ``NeuralGlobalModel`` (weight deltas through the aggregation
/// stages) and ``NGramGlobalModel`` (summed counts). The server holds `any GlobalModel` and
/// never asks which kind it is; ``RunConfiguration/makeGlobalModel(vocabulary:)`` is the one
/// place that picks a conformance.
protocol GlobalModel: Sendable {
    /// The kind's byte in a server checkpoint (``ServerCheckpoint``).
    var checkpointKind: UInt8 { get }

    /// The largest upload this model can be sent: anything larger is refused unread.
    var maximumUpdateBytes: Int { get }

    /// The layout hash and parameter count a shard's partial aggregate must have ((0, 0):
    /// the kind is not sharded).
    var partialLayout: (hash: UInt64, count: Int) { get }

    /// The bytes a device downloads at `version` (rounds committed).
    func downloadBytes(runID: Int64, version: Int) -> [UInt8]

    /// nwp-v1 figures on `messages` (the evaluation users' text), pooled and per message (in
    /// message order; per-user figures are summed from those).
    func evaluateEach(on messages: [[Int32]]) throws -> (total: NextWordMetrics, perMessage: [NextWordMetrics])

    /// On-phone personalization of this model for each user (``PersonalizationConfiguration``):
    /// the personalized and the global figures on each user's later text.
    func personalize(_ users: [PersonalizationText], settings: PersonalizationConfiguration, run: RunConfiguration)
        throws -> PersonalizationResult

    /// Adds what this model tells one device beyond the run's settings to its plan.
    func completePlan(_ plan: inout TrainingPlan, device: UInt32)

    /// Starts aggregating round `round` on top of this model.
    func openRound(_ round: Int, envelope: RoundEnvelope) -> any RoundAggregation

    /// Appends the kind's checkpoint body (after the common header) for the model after `round`.
    func writeCheckpoint(to writer: inout FrameWriter, round: Int)

    /// This model (fresh from the run's configuration) with a checkpoint body restored.
    func restoringCheckpoint(from reader: inout FrameReader) throws -> any GlobalModel
}

extension GlobalModel {
    /// nwp-v1 figures on `messages`, pooled.
    func evaluate(on messages: [[Int32]]) throws -> NextWordMetrics { try evaluateEach(on: messages).total }

    /// SHA-256 of the model's defining bytes (weights, or counts), hex.
    func sha256() -> String {
        var hash = SHA256()
        hash.update(downloadBytes(runID: 0, version: 0))
        return hash.finalizeHex()
    }
}

/// One open round's aggregation on the server, for one model kind: it receives accepted
/// devices' updates in arrival order and, at the close, produces the next global model.
///
/// Called only with the run's lock held. Built on a copy of the committed model, so an
/// abandoned or failed round changes nothing.
protocol RoundAggregation: AnyObject {
    /// Checks and aggregates one device's update.
    ///
    /// - Returns: The examples (tokens) the update says it trained on.
    /// - Throws: ``ServerRejection`` for an update that cannot be used; the round is then
    ///   unchanged.
    func receive(_ bytes: [UInt8], device: UInt32, extras: UploadExtras) throws(ServerRejection) -> Int

    /// Takes one shard's partial aggregate from a worker (runs with shards).
    ///
    /// - Throws: ``ServerRejection`` if the run is not sharded, the shard is out of range or
    ///   already summed, or the partial does not fit the model; the round is then unchanged.
    func receivePartial(_ partial: PartialAggregate) throws(ServerRejection)

    /// What a worker's pre-aggregation uploads: the aggregate of the updates received so far
    /// (on a round opened for one shard), as that shard's partial; nil for model kinds that
    /// are not sharded.
    func partialAggregate(run: Int64, shard: Int, lease: Int64, devices: [ShardDeviceReport]) -> PartialAggregate?

    /// The model after the round, and what the aggregation stages recorded about it.
    func close() throws -> (model: any GlobalModel, reports: [StageReport])

    /// Coordinates of a secure-aggregation input (the parameter count), or nil when the kind
    /// cannot be aggregated securely.
    var secureAggregationLength: Int? { get }

    /// Takes the round's whole aggregate from secure aggregation: the integer sum of
    /// `contributors` phones' codes on `grid`, in place of per-update ``receive(_:device:extras:)``
    /// calls. Each phone weighs 1 (uniform weights).
    func receiveQuantizedSum(_ sum: [UInt32], contributors: Int, grid: SecureAggregationGrid) throws(ServerRejection)

    /// Takes the round's whole aggregate from distributed DP under secure aggregation: the sum
    /// modulo 2^`ringBits` of `contributors` phones' γ-scaled, rounded, noised integers, read
    /// as signed (two's complement) and divided by γ = `scale`. Each phone weighs 1.
    func receiveSignedSum(_ sum: [UInt32], contributors: Int, ringBits: Int, scale: Double) throws(ServerRejection)
}

extension RoundAggregation {
    var secureAggregationLength: Int? { nil }

    func receiveSignedSum(_ sum: [UInt32], contributors: Int, ringBits: Int, scale: Double) throws(ServerRejection) {
        throw ServerRejection(
            .badRequest, "this model kind sums no integer updates; distributed DP is for neural models")
    }

    func receiveQuantizedSum(_ sum: [UInt32], contributors: Int, grid: SecureAggregationGrid) throws(ServerRejection) {
        throw ServerRejection(
            .badRequest, "this model kind sums no quantized updates; secure aggregation is for neural models")
    }
}

/// What every update of a round must say about itself: the run, the round and the device
/// it was sent as (a replay or a misrouted update is refused).
struct RoundEnvelope: Sendable {
    var runID: Int64
    var round: Int

    /// Checks an update's own run, round and device against the round and its sender.
    func check(runID: UInt64, round: Int, device: Int, sentAs expectedDevice: Int) throws(ServerRejection) {
        guard runID == UInt64(self.runID) else {
            throw ServerRejection(.wrongRound, "the update is for run \(runID), not run \(self.runID)")
        }
        guard round == self.round else {
            throw ServerRejection(
                .wrongRound,
                "the update was trained for round \(round), but round \(self.round) is open (a replay?)")
        }
        guard device == expectedDevice else {
            throw ServerRejection(
                .unknownDevice, "the update says device \(device) but was sent as device \(expectedDevice)")
        }
    }
}
