public import FederatedCore

/// A run's server optimizer and its learning-rate schedule, as `--server-opt` gives them
/// (`fedadam:lr=0.02,halflife=300`): parsed once, then carried as a value.
public struct ServerOptimizerSpec: TextParsable {
    /// The optimizer and its hyperparameters.
    public var kind: ServerOptimizerKind
    /// The learning rate's factor by round.
    public var schedule: ServerLearningRateSchedule

    /// Parses `fedavg`, `fedavgm`, `fedadam` or `fedyogi` with optional `:KEY=VALUE,…`
    /// (see ``ServerOptimizerKind/parseWithSchedule(_:)``).
    public init(parsing text: String) throws {
        (kind, schedule) = try ServerOptimizerKind.parseWithSchedule(text)
    }
}
