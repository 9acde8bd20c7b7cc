/// The round's last step: the weighted average of the sum becomes the server optimizer's
/// pseudo-gradient, and the optimizer moves the global weights (TFF's finalizer).
///
/// The optimizer's moments are the stage's state across rounds. The average divides by the
/// sum's total weight, or by ``RoundAggregate/denominator`` when a noise stage fixed one. A
/// round whose sum has no weight (and no fixed denominator) leaves the weights as they are.
public struct ServerOptimizerStage: AggregationStage {
    public private(set) var optimizer: any ServerOptimizer
    /// The server learning rate's factor by round.
    public let schedule: ServerLearningRateSchedule
    public var name: String { "server-optimizer" }

    /// A stage stepping `optimizer` with `schedule`.
    public init(_ optimizer: any ServerOptimizer, schedule: ServerLearningRateSchedule = ServerLearningRateSchedule()) {
        self.optimizer = optimizer
        self.schedule = schedule
    }

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        let average = aggregate.denominator.map { aggregate.sum.average(dividingBy: $0) } ?? aggregate.sum.average()
        guard let mean = average else { return }
        optimizer.step(weights: &weights, averageDelta: mean, learningRateScale: schedule.scale(round: aggregate.round))
    }

    public var stateVectorCount: Int { optimizer.stateVectors.count }

    public var stateVectors: [[Float]] { optimizer.stateVectors }

    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        try optimizer.restoreState(vectors)
    }
}
