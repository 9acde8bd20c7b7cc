/// A run's chain of ``AggregationStage``s, in order, with the state they carry across rounds.
///
/// The pipeline is a value: a round works on a copy of the committed pipeline, and only a
/// committed round's copy replaces it, so an abandoned or failed round changes nothing.
public struct AggregationPipeline: Sendable {
    /// The stages, in chain order.
    public private(set) var stages: [any AggregationStage]

    /// A pipeline of `stages`, run in the order given.
    public init(_ stages: [any AggregationStage]) {
        self.stages = stages
    }

    /// The stages' names, in chain order (`decode → weight → sum → server-optimizer`).
    public var names: [String] { stages.map(\.name) }

    /// Opens `round`: every stage resets its per-round state; returns the empty aggregate.
    public mutating func beginRound(_ round: Int, parameterCount: Int) -> RoundAggregate {
        for i in stages.indices { stages[i].beginRound(round) }
        return RoundAggregate(round: round, parameterCount: parameterCount)
    }

    /// Runs one update through every stage, in chain order.
    ///
    /// - Throws: the refusing stage's ``AggregationError``; stages before it have not
    ///   changed the aggregate (only stages before the sum refuse).
    public mutating func accept(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {
        // A refused update leaves no count behind either (the clip stage counts into the aggregate).
        let counts = aggregate.clipCounts
        for i in stages.indices {
            do {
                try stages[i].process(&update, into: &aggregate)
            } catch {
                aggregate.clipCounts = counts
                throw error
            }
            if update.isDiscarded {
                aggregate.discarded += 1
                return
            }
        }
    }

    /// Finishes the round on every stage, in chain order, applying it to `weights`.
    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {
        for i in stages.indices { try stages[i].finish(&aggregate, weights: &weights) }
    }

    /// Every stage's state vectors, concatenated in chain order (for checkpoints).
    public var stateVectors: [[Float]] { stages.flatMap(\.stateVectors) }

    /// Restores state saved from ``stateVectors``: each stage takes its
    /// ``AggregationStage/stateVectorCount`` vectors in chain order.
    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        let expected = stages.reduce(0) { $0 + $1.stateVectorCount }
        guard vectors.count == expected else {
            throw AggregationError(
                .shapeMismatch,
                "the stages \(names.joined(separator: " → ")) keep \(expected) state vectors; the checkpoint has \(vectors.count)"
            )
        }
        var next = 0
        for i in stages.indices {
            let count = stages[i].stateVectorCount
            try stages[i].restoreState(Array(vectors[next..<next + count]))
            next += count
        }
    }
}
