import Aggregation
import FederatedCore
import Federation
import FederationProtocol
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels

/// The Kneser-Ney model on the server: the fleet's summed n-gram counts, and per device the
/// last local day whose text it has contributed (so no text is counted twice).
struct NGramGlobalModel: GlobalModel {
    var order: Int
    var counts: NGramCounts
    /// Per device, the last local day whose text it has contributed.
    var contributedThroughDay: [UInt32: Int32] = [:]
    let vocabulary: Vocabulary
    /// Differentially private counts: how uploads are bounded and the sum is released; nil
    /// for exact counts.
    let privacy: CountPrivacy?
    /// The run's seed (the counts' noise streams derive from it and the round).
    let seed: UInt64

    /// An empty model of `order` over `vocabulary`.
    init(order: Int, vocabulary: Vocabulary, privacy: CountPrivacy? = nil, seed: UInt64 = 0) {
        self.order = order
        counts = NGramCounts(order: order)
        self.vocabulary = vocabulary
        self.privacy = privacy
        self.seed = seed
    }

    var checkpointKind: UInt8 { 1 }

    var partialLayout: (hash: UInt64, count: Int) { (0, 0) }

    var maximumUpdateBytes: Int { 64 << 20 }

    func downloadBytes(runID: Int64, version: Int) -> [UInt8] {
        NGramUpdateWire.encode(
            counts, vocabularyCount: vocabulary.count,
            envelope: .init(runID: UInt64(runID), round: version, device: 0, exampleCount: counts.tokenCount))
    }

    func evaluateEach(on messages: [[Int32]]) throws -> (total: NextWordMetrics, perMessage: [NextWordMetrics]) {
        guard !counts.isEmpty else {
            let each = messages.map { Self.emptyModelMetrics([$0]) }
            return (Self.emptyModelMetrics(messages), each)
        }
        let kn = try KneserNeyModel(counts: counts, vocabulary: vocabulary)
        return NextWordEvaluator(threads: 2).evaluateEach(messages: messages) { kn }
    }

    /// Before any count arrives the n-gram model predicts nothing: every target is a miss.
    static func emptyModelMetrics(_ messages: [[Int32]]) -> NextWordMetrics {
        var m = NextWordMetrics()
        for message in messages {
            m.predictions += message.count
            m.inVocabularyPredictions += message.lazy.filter { $0 != SpecialToken.unk.rawValue }.count
        }
        m.negativeLogLikelihood = .infinity
        return m
    }

    /// The device's plan says through which day it has contributed, so it uploads only newer text.
    func completePlan(_ plan: inout TrainingPlan, device: UInt32) {
        plan.contributedThroughDay = contributedThroughDay[device].map(Int.init)
    }

    func openRound(_ round: Int, envelope: RoundEnvelope) -> any RoundAggregation {
        NGramRoundAggregation(self, round: round, envelope: envelope)
    }

    /// KBDG table length u32, KBDG bytes, contributions u32, per device: id u32, day i64
    func writeCheckpoint(to w: inout FrameWriter, round: Int) {
        let table = NGramUpdateWire.encode(
            counts, vocabularyCount: vocabulary.count,
            envelope: .init(runID: 0, round: round, device: 0, exampleCount: counts.tokenCount))
        w.u32(UInt32(table.count))
        w.append(table)
        w.u32(UInt32(contributedThroughDay.count))
        for (device, day) in contributedThroughDay.sorted(by: { $0.key < $1.key }) {
            w.u32(device)
            w.i64(Int64(day))
        }
    }

    func restoringCheckpoint(from r: inout FrameReader) throws -> any GlobalModel {
        var restored = self
        let table = try r.raw(Int(try r.u32()))
        restored.counts = try NGramUpdateWire.decode(
            table, expectedOrder: order, vocabularyCount: vocabulary.count, maximumEntries: Int(Int32.max)
        ).1
        var contributions: [UInt32: Int32] = [:]
        for _ in 0..<Int(try r.u32()) {
            let device = try r.u32()
            contributions[device] = Int32(truncatingIfNeeded: try r.i64())
        }
        restored.contributedThroughDay = contributions
        return restored
    }
}
