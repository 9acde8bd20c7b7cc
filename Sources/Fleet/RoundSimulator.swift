public import FederatedCore

/// What the server asks of a round (Bonawitz et al. 2019, §2–4).
public struct RoundConfiguration: Sendable, Equatable {
    /// Reports wanted per round (`K`).
    public var cohort: Int = 500
    /// Devices selected per wanted report (default 1.3: 130%).
    public var overSelection: Double = 1.3
    /// Seconds from selection until the server stops waiting for reports.
    public var reportingDeadline: Int = 240
    /// A round with fewer than `minimumReportFraction · cohort` reports is abandoned.
    public var minimumReportFraction: Double = 0.8
    /// Bytes each device downloads (the model; default 5.6 MB, a 1.4M-parameter LSTM in float32).
    public var modelBytes: Int = 5_600_000
    /// Bytes each device uploads (the update; default 1.4 MB, 8-bit quantised).
    public var updateBytes: Int = 1_400_000
    /// Passes over the device's cached text per round.
    public var epochs: Double = 1
    /// Network throughput varies per device and round by a factor uniform in
    /// `[1 − networkJitter, 1 + networkJitter]`.
    public var networkJitter: Double = 0.5
    /// Seconds between one round's close and the next round's selection (aggregation,
    /// checkpointing).
    public var serverGap: Int = 20

    /// Creates the default configuration.
    public init() {}

    /// The number of devices selected per round: `ceil(cohort · overSelection)`.
    public var selectionSize: Int { Int((Double(cohort) * overSelection).rounded(.up)) }

    /// The smallest number of reports that keeps a round.
    public var minimumReports: Int { quorum.minimumReports }

    /// The rule that keeps or abandons a round (shared with the server).
    public var quorum: RoundQuorum { RoundQuorum(cohort: cohort, minimumReportFraction: minimumReportFraction) }

    /// Checks every field, and that the cohort fits in a population of `devices`.
    ///
    /// - Throws: ``FleetError`` naming the field.
    public func validate(devices: Int) throws {
        guard cohort >= 1 else { throw FleetError(.invalidConfiguration, "cohort must be at least 1 (got \(cohort))") }
        guard overSelection >= 1, overSelection <= 10 else {
            throw FleetError(
                .invalidConfiguration, "over-selection must be in 1...10, e.g. 1.3 for 130% (got \(overSelection))")
        }
        guard selectionSize <= devices else {
            throw FleetError(
                .cohortTooLarge,
                "a cohort of \(cohort) with \(Int(overSelection * 100))% over-selection selects \(selectionSize) devices, more than the population of \(devices); lower --cohort or raise --devices"
            )
        }
        guard reportingDeadline >= 1 else {
            throw FleetError(
                .invalidConfiguration, "reporting deadline must be at least 1 second (got \(reportingDeadline))")
        }
        guard minimumReportFraction >= 0, minimumReportFraction <= 1 else {
            throw FleetError(
                .invalidConfiguration, "minimum report fraction must be in [0, 1] (got \(minimumReportFraction))")
        }
        guard modelBytes >= 0, updateBytes >= 0 else {
            throw FleetError(.invalidConfiguration, "model and update sizes must be non-negative bytes")
        }
        guard epochs > 0 else { throw FleetError(.invalidConfiguration, "epochs must be positive (got \(epochs))") }
        guard networkJitter >= 0, networkJitter < 1 else {
            throw FleetError(.invalidConfiguration, "network jitter must be in [0, 1) (got \(networkJitter))")
        }
        guard serverGap >= 0 else {
            throw FleetError(.invalidConfiguration, "server gap must be non-negative (got \(serverGap))")
        }
    }
}

/// What happened in one round.
public struct RoundOutcome: Sendable, Equatable {
    /// The round's number, from 0.
    public var round: Int
    /// Virtual time of selection.
    public var startTime: Int
    /// Virtual time the round closed: the `K`-th report, or the deadline.
    public var closeTime: Int
    /// Virtual time the next round may start (`closeTime` plus the server gap).
    public var endTime: Int
    /// Devices examined while selecting (rejection-sampling probes).
    public var probes: Int
    /// Selected devices, in selection order (distinct).
    public var selected: [UInt32]
    /// Devices whose report the round used (at most `K`), in order of arrival.
    public var reported: [UInt32]
    /// Virtual time (seconds since the epoch) each device of ``reported`` reported at, in
    /// the same order.
    public var reportTimes: [Double]
    /// Devices that stopped being eligible before finishing (unplugged, left Wi-Fi, screen on).
    public var dropped: [UInt32]
    /// Devices that would have finished after the reporting deadline.
    public var stragglers: [UInt32]
    /// Devices that finished after `K` reports had arrived (over-selection surplus, discarded).
    public var surplus: [UInt32]
    /// Whether the round had fewer reports than the minimum and was abandoned.
    public var abandoned: Bool
    /// Eligible devices selection passed over because the participation rule did not allow
    /// them.
    public var skippedByLimits = 0
}

/// Runs federated rounds over a ``DevicePopulation`` in virtual time.
///
/// A plain struct: ``runRound(at:updateBytes:modelBytes:)`` selects a cohort among the devices eligible
/// at that time, works out each device's fate from its tiers and its availability, and
/// feeds the finishing devices in time order to the server's ``SimulatedRound`` state machine,
/// and returns the ``RoundOutcome``; called without a time it runs at the end of the previous
/// round. A device's work is `modelBytes / downlink + epochs · tokens · secondsPerToken +
/// updateBytes / uplink`, each network term divided by a per-(device, round) jitter factor.
/// It *drops out* if it is ineligible at any whole minute before it would finish (and before
/// the deadline); otherwise it is a *straggler* if it would finish after the deadline.
public struct RoundSimulator: Sendable {
    /// The fleet.
    public let population: DevicePopulation
    /// The server's requirements.
    public var configuration: RoundConfiguration
    /// Virtual time at which the next round starts.
    public private(set) var time: Int
    /// The number of rounds run so far.
    public private(set) var roundsRun = 0

    /// Creates a simulator starting at virtual time `start` (seconds since the epoch).
    ///
    /// - Parameter firstRound: the index of the first round it runs (a resumed run continues
    ///   with the same per-round random streams as an uninterrupted one).
    /// - Throws: ``FleetError`` if the configuration is invalid for this population.
    public init(population: DevicePopulation, configuration: RoundConfiguration, start: Int = 0, firstRound: Int = 0)
        throws
    {
        try configuration.validate(devices: population.count)
        self.population = population
        self.configuration = configuration
        time = start
        roundsRun = firstRound
    }

    /// Seconds `device` needs to download, train and upload in round `round`.
    ///
    /// - Parameter tokens: the tokens it trains on (default: ``DevicePopulation/trainingTokens(_:)``).
    public func workSeconds(
        device: Int, round: Int, updateBytes: Int? = nil, modelBytes: Int? = nil, tokens: Double? = nil
    ) -> Double {
        let c = configuration
        var rng = SplitMix64(seed: population.configuration.seed, streams: 0x5E1EC7, UInt64(round), UInt64(device))
        let downJitter = 1 + c.networkJitter * (2 * rng.nextUnitDouble() - 1)
        let upJitter = 1 + c.networkJitter * (2 * rng.nextUnitDouble() - 1)
        let download = Double(modelBytes ?? c.modelBytes) / (population.downlinkBytesPerSecond(device) * downJitter)
        let train = c.epochs * (tokens ?? population.trainingTokens(device)) * population.secondsPerToken(device)
        let upload = Double(updateBytes ?? c.updateBytes) / (population.uplinkBytesPerSecond(device) * upJitter)
        return download + train + upload
    }

    /// Runs one round starting at `start` and advances the clock to its end.
    ///
    /// - Parameters:
    ///   - allowed: the server's participation rule, if any (``DevicePopulation/sampleEligible(size:at:using:allowed:)``).
    ///   - start: virtual time of selection (default: the simulator's clock).
    ///   - updateBytes, modelBytes: override the configured sizes for this round (the
    ///     federated loop passes the real sizes of its encoded update and model).
    ///   - trainingTokens: the number of tokens a device trains on, if the caller knows it
    ///     (e.g. from the device's real last-D-days text); default: the device's message
    ///     volume × D × tokens per message.
    public mutating func runRound(
        at start: Int? = nil, updateBytes: Int? = nil, modelBytes: Int? = nil,
        trainingTokens: ((_ device: Int) -> Double)? = nil, allowed: ((UInt32) -> Bool)? = nil
    ) -> RoundOutcome {
        let t = start ?? time
        let round = roundsRun
        let c = configuration
        var rng = SplitMix64(seed: population.configuration.seed, streams: 0xC0407, UInt64(round))
        let (selected, probes, skipped) = population.sampleEligible(
            size: c.selectionSize, at: t, using: &rng, allowed: allowed)
        let deadline = t + c.reportingDeadline
        var finished: [(time: Double, device: UInt32)] = []
        var dropped: [UInt32] = []
        var stragglers: [UInt32] = []
        for d in selected {
            let device = Int(d)
            let finish =
                Double(t)
                + workSeconds(
                    device: device, round: round, updateBytes: updateBytes, modelBytes: modelBytes,
                    tokens: trainingTokens?(device))
            let horizon = min(Int(finish.rounded(.down)), deadline)
            if population.eligibilityEnd(device, after: t, through: horizon) != nil {
                dropped.append(d)
            } else if finish > Double(deadline) {
                stragglers.append(d)
            } else {
                finished.append((finish, d))
            }
        }
        finished.sort { $0.time < $1.time || ($0.time == $1.time && $0.device < $1.device) }
        var server = SimulatedRound(cohort: c.cohort, minimumReports: c.minimumReports, deadline: deadline)
        var reported: [UInt32] = []
        var reportTimes: [Double] = []
        var surplus: [UInt32] = []
        var close = deadline
        for (finish, device) in finished {
            switch server.reportArrived(at: finish) {
            case .accept:
                reported.append(device)
                reportTimes.append(finish)
            case .acceptAndClose(let at):
                reported.append(device)
                reportTimes.append(finish)
                close = at
            default: surplus.append(device)
            }
        }
        var abandoned = false
        switch server.deadlinePassed() {
        case .abandon: abandoned = true
        default: break
        }
        let outcome = RoundOutcome(
            round: round, startTime: t, closeTime: close, endTime: close + c.serverGap,
            probes: probes, selected: selected, reported: reported, reportTimes: reportTimes, dropped: dropped,
            stragglers: stragglers, surplus: surplus, abandoned: abandoned, skippedByLimits: skipped
        )
        roundsRun += 1
        time = outcome.endTime
        return outcome
    }
}
