/// A robust aggregator in the place of `sum` (`decode,weight,median,server-optimizer`): it
/// keeps the round's updates in one ``UpdateBuffer`` as they arrive and, when the round
/// closes, replaces the round's sum by its estimate, so that the server optimizer's
/// `sum / totalWeight` is the robust estimate.
///
/// - The coordinate-wise median and trimmed mean count every phone once (the weight stage's
///   weights are ignored); the sum becomes `estimate × W` with `W` the updates' total weight.
/// - Krum keeps one update: the sum becomes that update times its weight. Multi-Krum keeps
///   `m`: the sum is their weighted sum (`weight:uniform` gives Blanchard et al.'s plain mean).
///
/// It keeps nothing across rounds, and gives the buffer's memory back when the round closes.
public struct RobustAggregatorStage: AggregationStage {
    public let rule: RobustRule
    private var buffer = UpdateBuffer()
    public var name: String { rule.name }

    public init(_ rule: RobustRule) { self.rule = rule }

    public mutating func beginRound(_ round: Int) { buffer.release() }

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        try buffer.append(UnsafeBufferPointer(update.values), device: update.device, weight: update.weight)
    }

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        defer { buffer.release() }
        let n = buffer.count
        let p = aggregate.sum.parameterCount
        var report = DefenceReport(defence: rule.description, norms: NormDistribution(buffer.norms))
        guard n > 0 else {
            aggregate.reports.append(StageReport(stage: name, payload: report))
            return
        }
        guard buffer.parameterCount == p else {
            throw AggregationError(
                .shapeMismatch, "\(name) buffered updates of \(buffer.parameterCount) values for a model of \(p)")
        }
        guard n >= rule.minimumUpdates else {
            throw AggregationError(
                .invalidStage,
                "\(rule) needs at least \(rule.minimumUpdates) updates in a round; round \(aggregate.round) brought \(n)"
            )
        }
        var sum = WeightedSum(parameterCount: p)
        buffer.values.withUnsafeBufferPointer { all in
            switch rule {
            case .median, .trimmedMean:
                var estimate = [Float](repeating: 0, count: p)
                estimate.withUnsafeMutableBufferPointer { out in
                    if case .trimmedMean(let beta) = rule {
                        let trim = Int((beta * Double(n)).rounded(.down))
                        report.trimmedPerCoordinate = trim
                        CoordinateStatistics.trimmedMean(of: all, count: n, trim: trim, into: out)
                    } else {
                        CoordinateStatistics.median(of: all, count: n, into: out)
                    }
                }
                sum.add(estimate, weight: Float(buffer.totalWeight))
            case .krum(let f), .multiKrum(let f, _):
                let m: Int
                if case .multiKrum(_, let wanted) = rule { m = min(wanted, n - f) } else { m = 1 }
                let chosen = Krum.lowest(m, of: Krum.scores(of: all, count: n, f: f))
                for i in chosen.sorted() {
                    sum.add(UnsafeBufferPointer(rebasing: all[(i * p)..<((i + 1) * p)]), weight: buffer.weights[i])
                }
                let kept = Set(chosen)
                report.selectedDevices = chosen.sorted().map { buffer.devices[$0] }
                report.discardedDevices = (0..<n).filter { !kept.contains($0) }.map { buffer.devices[$0] }
                report.discarded = n - m
            }
        }
        aggregate.sum = sum
        aggregate.reports.append(StageReport(stage: name, payload: report))
    }
}
