import Foundation

/// Monitoring: the distribution of the decoded updates' L2 norms in each round, stored with
/// the round (what a deployment watches for poisoned or diverging phones, and what
/// clipping is tuned from).
///
/// Bins are half-decades of the norm, `[10^(k/2), 10^((k+1)/2))` for the edges in
/// ``edges``, with one bin below the first edge and one at or above the last. The stage
/// changes no update.
public struct NormHistogramStage: AggregationStage {
    /// What the stage records about a round.
    public struct Report: Codable, Sendable, Equatable {
        /// Updates seen.
        public var count = 0
        /// Smallest, largest and mean L2 norm (0 when no update was seen).
        public var min = 0.0
        public var max = 0.0
        public var mean = 0.0
        /// The bin edges (ascending).
        public var edges: [Double] = []
        /// `edges.count + 1` counts: below `edges[0]`, each `[edges[i], edges[i+1])`, at or
        /// above the last edge.
        public var counts: [Int] = []
    }

    /// Half-decade edges from 10⁻⁴ to 10².
    public static let edges: [Double] = (-8...4).map { pow(10, Double($0) / 2) }

    public var name: String { "norm-histogram" }
    private var report = Report()
    private var sum = 0.0

    public init() {}

    public mutating func beginRound(_ round: Int) {
        report = Report(edges: Self.edges, counts: [Int](repeating: 0, count: Self.edges.count + 1))
        sum = 0
    }

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        let norm = VectorNorm.l2(UnsafeBufferPointer(update.values))
        report.counts[Self.edges.firstIndex { norm < $0 } ?? Self.edges.count] += 1
        report.min = report.count == 0 ? norm : Swift.min(report.min, norm)
        report.max = Swift.max(report.max, norm)
        report.count += 1
        sum += norm
    }

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        report.mean = report.count > 0 ? sum / Double(report.count) : 0
        aggregate.reports.append(StageReport(stage: name, payload: report))
    }
}
