/// What a federated run tells whoever started it, and how it is told to pause: progress
/// lines, the benchmark's workload export and tests' simulated crashes all arrive here,
/// injected into the ``FederatedRunner``.
///
/// Called on the runner's task, between the steps of a round; keep the calls short.
public protocol RunObserver: Sendable {
    /// Whether the runner starts another round, having committed `roundsThisProcess` rounds
    /// in this process. Returning false leaves the run as a crash would (the store holds the
    /// committed rounds and the run is still marked running), so it can be resumed.
    func shouldStartRound(afterRoundsInThisProcess roundsThisProcess: Int) -> Bool

    /// Whether ``cohortTrained(round:messages:weights:)`` is wanted (its arrays are built
    /// only then).
    var wantsCohorts: Bool { get }

    /// A round's cohort has trained: the reporting devices' messages and FedAvg weights, in
    /// aggregation order, before they upload.
    func cohortTrained(round: Int, messages: [[[Int32]]], weights: [Int])

    /// A round was committed.
    func roundCommitted(_ progress: RoundProgress)
}

extension RunObserver {
    public func shouldStartRound(afterRoundsInThisProcess roundsThisProcess: Int) -> Bool { true }
    public var wantsCohorts: Bool { false }
    public func cohortTrained(round: Int, messages: [[[Int32]]], weights: [Int]) {}
    public func roundCommitted(_ progress: RoundProgress) {}
}

/// An observer that watches nothing: the run goes to its last round.
public struct UnobservedRun: RunObserver {
    public init() {}
}

/// Stops after a number of rounds in this process, as if the process died there (tests of
/// resume use it).
public struct RoundLimit: RunObserver {
    public var rounds: Int

    public init(_ rounds: Int) { self.rounds = rounds }

    public func shouldStartRound(afterRoundsInThisProcess roundsThisProcess: Int) -> Bool {
        roundsThisProcess < rounds
    }
}
