import Aggregation
import FederatedCore
import Federation
import FederationProtocol
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels

/// The embedding + LSTM model on the server: its weights and the aggregation stages (with
/// the state they carry across rounds, such as the server optimizer's moments).
struct NeuralGlobalModel: GlobalModel {
    /// The architecture (its parameters are not kept up to date; ``weights`` are).
    var model: LSTMLanguageModel
    var weights: [Float]
    var pipeline: AggregationPipeline
    /// A round's aggregation shards (⌈cohort / ``RunConfiguration/shardSize``⌉); nil: one sum.
    var shardCount: Int?

    /// A fresh model for `configuration` (deterministic in its seed), aggregated by `pipeline`.
    init(config: ModelConfig, zipfBias: Bool, pipeline: (LSTMLanguageModel) throws -> AggregationPipeline) throws {
        model = try LSTMLanguageModel(config: config)
        if zipfBias { model.initializeOutputBiasFromRanks() }
        weights = Array(model.parameters)
        self.pipeline = try pipeline(model)
    }

    var checkpointKind: UInt8 { 0 }

    var partialLayout: (hash: UInt64, count: Int) { (model.layoutHash, weights.count) }

    // float32 plus rotation padding, chunk scales and framing: anything larger is not an update.
    var maximumUpdateBytes: Int { 5 * weights.count + 1 << 20 }

    func downloadBytes(runID: Int64, version: Int) -> [UInt8] {
        ModelDownload.encode(weights, layoutHash: model.layoutHash, runID: runID, version: version)
    }

    func evaluateEach(on messages: [[Int32]]) throws -> (total: NextWordMetrics, perMessage: [NextWordMetrics]) {
        var model = model
        model.parameters = ContiguousArray(weights)
        return Self.evaluateEach(model, messages: messages)
    }

    /// Two predictors on two threads, merged in shard order (thread-count independent sums).
    static func evaluateEach(_ model: LSTMLanguageModel, messages: [[Int32]])
        -> (total: NextWordMetrics, perMessage: [NextWordMetrics])
    {
        NextWordEvaluator(threads: 2).evaluateEach(messages: messages) { LSTMPredictor(model: model) }
    }

    func completePlan(_ plan: inout TrainingPlan, device: UInt32) {}

    func openRound(_ round: Int, envelope: RoundEnvelope) -> any RoundAggregation {
        NeuralRoundAggregation(self, round: round, envelope: envelope)
    }

    /// weight count u32, weights f32…, state vectors u32, per vector: length u32, f32…
    func writeCheckpoint(to w: inout FrameWriter, round: Int) {
        w.u32(UInt32(weights.count))
        w.floats(weights)
        let state = pipeline.stateVectors
        w.u32(UInt32(state.count))
        for v in state {
            w.u32(UInt32(v.count))
            w.floats(v)
        }
    }

    func restoringCheckpoint(from r: inout FrameReader) throws -> any GlobalModel {
        var restored = self
        let count = Int(try r.u32())
        guard count == weights.count else {
            throw FederationError(
                .badCheckpoint, "the checkpoint has \(count) weights, the run's model \(weights.count)")
        }
        restored.weights = try r.floats(count)
        var state: [[Float]] = []
        for _ in 0..<Int(try r.u32()) { state.append(try r.floats(Int(try r.u32()))) }
        try restored.pipeline.restoreState(state)
        return restored
    }
}
