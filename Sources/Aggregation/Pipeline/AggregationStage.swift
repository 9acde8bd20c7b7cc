/// One step of a round's aggregation on the server: decode, weight, clip, add noise, sum,
/// step the server optimizer, and whatever comes next, each a type of its own.
///
/// A round runs ``process(_:into:)`` on every stage in chain order for each accepted update
/// (in arrival order), then ``finish(_:weights:)`` on every stage in chain order when it
/// closes. A stage that keeps state across rounds (adaptive clipping, optimizer moments)
/// exposes it in ``stateVectors`` and the server checkpoints it with the round.
///
/// A stage that can refuse an update must do so before it changes anything, so that a
/// refused update leaves the round as it was; only the stages before the sum may refuse.
public protocol AggregationStage: Sendable {
    /// The stage's name in a run's chain (`decode`, `weight`, `sum`, `server-optimizer`, …).
    var name: String { get }

    /// Resets what the stage keeps per round; called when a round opens.
    mutating func beginRound(_ round: Int)

    /// Processes one update (and may add it to `aggregate`).
    ///
    /// - Throws: ``AggregationError`` to refuse the update (e.g. it cannot be decoded).
    mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)

    /// Finishes the round: may change the aggregate (noise), and may apply it to the global
    /// `weights` (the server optimizer). Called only for rounds that are not abandoned.
    mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError)

    /// How many state vectors the stage keeps across rounds (0 for a stateless stage).
    var stateVectorCount: Int { get }

    /// The stage's state across rounds, for checkpoints: ``stateVectorCount`` vectors.
    var stateVectors: [[Float]] { get }

    /// Restores state saved from ``stateVectors``.
    ///
    /// - Throws: ``AggregationError`` if the vectors do not fit the stage.
    mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError)
}

extension AggregationStage {
    public mutating func beginRound(_ round: Int) {}

    public mutating func process(_ update: inout ClientUpdate, into aggregate: inout RoundAggregate)
        throws(AggregationError)
    {}

    public mutating func finish(_ aggregate: inout RoundAggregate, weights: inout [Float]) throws(AggregationError) {}

    public var stateVectorCount: Int { 0 }

    public var stateVectors: [[Float]] { [] }

    public mutating func restoreState(_ vectors: [[Float]]) throws(AggregationError) {
        guard vectors.isEmpty else {
            throw AggregationError(
                .shapeMismatch, "stage \(name) keeps no state; the checkpoint has \(vectors.count) vectors")
        }
    }
}
