import FederatedCore

/// The server's side of one round in virtual time: a plain-struct state machine.
///
/// The owner feeds it events in time order — each report as it arrives, then the deadline —
/// and executes the ``Action`` it returns. A round closes as soon as `cohort` reports are in;
/// at the deadline it closes with what it has, or is abandoned by the ``RoundQuorum``.
public struct SimulatedRound: Sendable, Equatable {
    /// Where the round is.
    public enum State: Sendable, Equatable {
        /// Waiting for reports; `reports` have arrived.
        case collecting(reports: Int)
        /// Closed with enough reports at virtual time `at`.
        case closed(at: Int, reports: Int)
        /// Abandoned at the deadline with too few reports.
        case abandoned(at: Int, reports: Int)
    }

    /// What the owner must do after an event.
    public enum Action: Sendable, Equatable {
        /// Keep the report and keep waiting.
        case accept
        /// Keep the report and close the round now: `cohort` reports are in.
        case acceptAndClose(at: Int)
        /// Discard the report: the round is already over (over-selection surplus).
        case discard
        /// Close the round at the deadline with the reports so far.
        case close(at: Int)
        /// Abandon the round at the deadline: too few reports.
        case abandon(at: Int)
        /// Nothing to do (an event after the round ended).
        case none
    }

    /// The round's state.
    public private(set) var state: State = .collecting(reports: 0)
    /// Reports wanted.
    public let cohort: Int
    /// Fewest reports that keep the round.
    public let minimumReports: Int
    /// Virtual time of the reporting deadline.
    public let deadline: Int

    /// A round that wants `cohort` reports by `deadline` and keeps at least `minimumReports`.
    public init(cohort: Int, minimumReports: Int, deadline: Int) {
        precondition(cohort >= 1 && minimumReports >= 0, "a round wants at least one report")
        self.cohort = cohort
        self.minimumReports = minimumReports
        self.deadline = deadline
    }

    /// A device's report arrives at virtual time `time` (seconds, not after the deadline).
    public mutating func reportArrived(at time: Double) -> Action {
        guard case .collecting(let reports) = state else { return .discard }
        precondition(time <= Double(deadline), "reports after the deadline are stragglers, not reports")
        let now = reports + 1
        if now == cohort {
            let close = Int(time.rounded(.up))
            state = .closed(at: close, reports: now)
            return .acceptAndClose(at: close)
        }
        state = .collecting(reports: now)
        return .accept
    }

    /// The deadline passes.
    public mutating func deadlinePassed() -> Action {
        guard case .collecting(let reports) = state else { return .none }
        if RoundQuorum(minimumReports: minimumReports).isAbandoned(reports: reports) {
            state = .abandoned(at: deadline, reports: reports)
            return .abandon(at: deadline)
        }
        state = .closed(at: deadline, reports: reports)
        return .close(at: deadline)
    }
}
