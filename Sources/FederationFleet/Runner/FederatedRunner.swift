import Dispatch
import FederatedCore
public import Federation
public import FederationProtocol
public import Fleet
import Foundation
import KeyboardCorpus

/// One round as the fleet saw it, for progress lines and the summary table.
public struct RoundProgress: Sendable {
    public var round: Int
    public var totalRounds: Int
    public var outcome: RoundOutcome
    public var summary: RoundSummary
    /// Devices whose local work failed (their update could not be encoded).
    public var failedDevices: Int
    /// Fleet wall seconds (selection, training, uploads) and of which training.
    public var fleetSeconds: Double
    public var trainSeconds: Double
    /// Update bytes accepted so far in this process (all rounds).
    public var cumulativeBytesUp: Int64
}

/// Drives a federated run's rounds from the fleet's side against an aggregation server,
/// each round as the protocol runs it (Bonawitz et al. 2019): select → configure → train →
/// report → close (the server aggregates, evaluates and commits).
///
/// A round is either committed by the server as a whole or not at all, so stopping the
/// runner at any point (``requestStop()``, Ctrl-C, `kill -9`) leaves the store at the last
/// committed round, and ``run(configuration:resume:)`` with the run id continues from there
/// with the same random streams: the resumed run reaches the same model as an uninterrupted one.
public final class FederatedRunner: @unchecked Sendable {
    // @unchecked: the stop flag is guarded by `stopLock`; everything else is set in init.
    public let transport: any ServerTransport
    /// Worker threads for local training.
    public let workers: Int
    /// Scale-out: train on workers that lease shards from the server (docs/scale-out.md)
    /// instead of on this process's cores; nil trains here.
    public let remoteTraining: RemoteTraining?
    private let observer: any RunObserver
    private let dataset: FederatedDataset
    private let stopLock = NSLock()
    private var stopRequested = false

    /// A runner over `transport`, with the run's text (`dataset`).
    ///
    /// - Parameters:
    ///   - workers: threads for local training (default: all cores); the result is the same
    ///     for any count.
    ///   - observer: told of each round; may pause the run (``RunObserver``).
    public init(
        transport: any ServerTransport, dataset: FederatedDataset,
        workers: Int? = nil, observer: any RunObserver = UnobservedRun(), remoteTraining: RemoteTraining? = nil
    ) {
        self.transport = transport
        self.dataset = dataset
        self.remoteTraining = remoteTraining
        self.workers = max(1, workers ?? ProcessInfo.processInfo.activeProcessorCount)
        self.observer = observer
    }

    /// Asks the runner to stop before the next step of a round (safe from a signal handler's queue).
    public func requestStop() {
        stopLock.lock()
        stopRequested = true
        stopLock.unlock()
    }

    private var shouldStop: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopRequested
    }

    /// How a run ended.
    public struct Outcome: Sendable {
        public var attachment: RunAttachment
        public var rounds: [RoundProgress]
        /// True if every configured round is committed.
        public var finished: Bool
    }

    /// Starts a new run with `configuration`, or resumes run `resume`, and runs its rounds.
    public func run(configuration: RunConfiguration? = nil, resume: Int64? = nil) async throws -> Outcome {
        let attachment: RunAttachment
        if let resume {
            attachment = try await transport.resumeRun(id: resume)
        } else if let configuration {
            attachment = try await transport.createRun(configuration)
        } else {
            throw FederationError(.invalidConfiguration, "a run needs a configuration or a run id to resume")
        }
        var fleet = try AttachedFleet(attachment: attachment, dataset: dataset, workers: workers)
        var progress: [RoundProgress] = []
        var pausedByObserver = false
        var round = attachment.nextRound
        while round <= attachment.configuration.rounds {
            if shouldStop { break }
            guard observer.shouldStartRound(afterRoundsInThisProcess: progress.count) else {
                pausedByObserver = true
                break
            }
            guard let p = try await runRound(round, fleet: &fleet, runID: attachment.runID) else { break }
            progress.append(p)
            observer.roundCommitted(p)
            round += 1
        }
        let finished = round > attachment.configuration.rounds
        if !pausedByObserver || finished {
            try await transport.finishRun(attachment.runID, finished: finished)
        }
        return Outcome(attachment: attachment, rounds: progress, finished: finished)
    }

    /// One round; nil if a stop was requested before anything of it was committed (a resume
    /// redoes it).
    private func runRound(_ round: Int, fleet: inout AttachedFleet, runID: Int64) async throws -> RoundProgress? {
        let c = fleet.configuration
        let started = DispatchTime.now().uptimeNanoseconds
        let start = fleet.nextStart

        // Select: which phones are eligible, and each one's fate, in virtual time.
        let text = RoundText(
            dataset: dataset, population: fleet.population, start: start, round: round, seed: c.seed,
            limit: fleet.device.messageLimit)
        let device = fleet.device
        // Participation limits: selection passes over phones the server would refuse.
        let allowed: ((UInt32) -> Bool)? = c.participation.map { limits in
            let ledger = fleet.ledger
            return { ledger.allows($0, round: round, under: limits) }
        }
        let outcome = fleet.simulator.runRound(
            at: start, updateBytes: device.estimatedUpdateBytes(modelBytes: fleet.modelBytes),
            modelBytes: fleet.modelBytes,
            trainingTokens: { Double(text.tokens(of: $0)) * device.costPerTrainingToken }, allowed: allowed)
        try await transport.openRound(
            run: runID,
            RoundOpening(
                round: round, selected: outcome.selected, virtualStart: start, deadline: start + c.reportingDeadline))

        // Configure: the reporting devices check in and get the round's plan.
        var plans: [TrainingPlan] = []
        for d in outcome.reported {
            plans.append(try await transport.checkIn(run: runID, round: round, device: Int(d)))
        }

        if let remoteTraining, !plans.isEmpty {
            return try await runRemoteRound(
                round, fleet: &fleet, runID: runID, start: start, outcome: outcome, plans: plans,
                settings: remoteTraining, started: started)
        }

        // Train: they download the model and do their local work, on all cores.
        var reports: [Result<DeviceReport, FederationError>] = []
        if let plan = plans.first {
            let work = try device.prepareRound(download: try await transport.model(run: runID, round: round))
            let jobs = zip(outcome.reported, plans).map { d, p in device.job(device: Int(d), plan: p, text: text) }
            reports = fleet.trainer.run(jobs, work: work, plan: plan, runSeed: c.seed)
            if observer.wantsCohorts {
                let ok = zip(jobs, reports).compactMap { job, r in (try? r.get()).map { (job.messages, $0.tokens) } }
                observer.cohortTrained(round: round, messages: ok.map(\.0), weights: ok.map(\.1))
            }
        }
        let trainSeconds = reports.reduce(0.0) { $0 + ((try? $1.get())?.trainSeconds ?? 0) } / Double(workers)
        if shouldStop { return nil }

        // Report: uploads in virtual arrival order (the aggregation order), each counted under
        // its device's local hour at the time it reported.
        var failed = 0
        var localHours = [Int](repeating: 0, count: 24)
        var secureAggregation: SecureAggregationReport?
        if let settings = c.secureAggregation {
            // Secure aggregation: the phones that trained run the four SecAgg+ stages instead
            // of uploading; the server gets only their sum.
            var trained: [(report: DeviceReport, time: Double)] = []
            for (report, reportTime) in zip(reports, outcome.reportTimes) {
                switch report {
                case .success(let r): trained.append((r, reportTime))
                case .failure: failed += 1
                }
            }
            if !trained.isEmpty {
                let secure = try await SecureAggregationFleetRound(
                    transport: transport, runID: runID, round: round, settings: settings, runSeed: c.seed,
                    parallelism: workers, population: fleet.population, protocolStart: outcome.closeTime
                ).run(trained.map(\.report))
                secureAggregation = secure.report
                for phone in secure.contributors {
                    let (r, time) = trained[phone]
                    localHours[fleet.population.localHour(r.device, at: Int(time.rounded(.down)))] += 1
                }
            }
        }
        for (position, (report, reportTime)) in zip(reports, outcome.reportTimes).enumerated()
        where c.secureAggregation == nil {
            switch report {
            case .success(let r):
                let extras = UploadExtras(
                    virtualTime: outcome.closeTime, evaluation: r.evaluation, textThroughDay: r.textThroughDay,
                    shard: c.shardSize.map { position / $0 })
                _ = try await transport.upload(
                    run: runID, round: round, device: r.device, bytes: r.bytes, extras: extras)
                localHours[fleet.population.localHour(r.device, at: Int(reportTime.rounded(.down)))] += 1
            case .failure:
                failed += 1
            }
        }
        return try await closeRound(
            round, fleet: &fleet, runID: runID, start: start, outcome: outcome, failed: failed,
            localHours: localHours, trainSeconds: trainSeconds, started: started, secureAggregation: secureAggregation)
    }

    /// Close: the server aggregates, evaluates when due and commits the round. The next
    /// round starts when this one has ended, and no sooner than the interval.
    private func closeRound(
        _ round: Int, fleet: inout AttachedFleet, runID: Int64, start: Int, outcome: RoundOutcome, failed: Int,
        localHours: [Int], trainSeconds: Double, started: UInt64, secureAggregation: SecureAggregationReport? = nil
    ) async throws -> RoundProgress {
        let c = fleet.configuration
        let fleetSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        fleet.nextStart = max(outcome.endTime, start + c.roundInterval)
        let participants = outcome.reported.count + outcome.dropped.count + outcome.stragglers.count
        var closing = RoundClosing(
            round: round, virtualStart: outcome.startTime, virtualEnd: outcome.endTime,
            nextRoundStart: fleet.nextStart, selected: outcome.selected.count,
            dropped: outcome.dropped.count + failed, stragglers: outcome.stragglers.count,
            surplus: outcome.surplus.count,
            bytesDown: Int64(fleet.modelBytes) * Int64(participants + outcome.surplus.count),
            wallSeconds: fleetSeconds, trainSeconds: trainSeconds, reportingLocalHours: localHours,
            skippedByLimits: c.participation != nil ? outcome.skippedByLimits : nil)
        closing.secureAggregation = secureAggregation
        let summary = try await transport.closeRound(run: runID, closing)
        fleet.modelBytes = summary.modelBytes
        if let participants = summary.participants { fleet.ledger.record(participants, round: round) }
        fleet.bytesUp += summary.bytesUp
        return RoundProgress(
            round: round, totalRounds: c.rounds, outcome: outcome, summary: summary, failedDevices: failed,
            fleetSeconds: fleetSeconds, trainSeconds: trainSeconds, cumulativeBytesUp: fleet.bytesUp)
    }

    /// Scale-out: publishes the round's reporting phones as shards, waits until workers have
    /// sent every shard's partial (leases that expire go to other workers), then closes.
    private func runRemoteRound(
        _ round: Int, fleet: inout AttachedFleet, runID: Int64, start: Int, outcome: RoundOutcome,
        plans: [TrainingPlan], settings: RemoteTraining, started: UInt64
    ) async throws -> RoundProgress? {
        let c = fleet.configuration
        guard let size = c.shardSize else {
            throw FederationError(
                .invalidConfiguration, "training on workers needs --shard-size (the phones per leased shard)")
        }
        let devices = outcome.reported.map(Int.init)
        let shards = stride(from: 0, to: devices.count, by: size).map { first in
            let range = first..<min(first + size, devices.count)
            return ShardAssignment(index: first / size, devices: Array(devices[range]), plans: Array(plans[range]))
        }
        try await transport.publishShards(
            run: runID,
            ShardPublication(
                round: round, virtualStart: start, reportTime: outcome.closeTime, shards: shards,
                leaseSeconds: settings.leaseSeconds))
        var progress = try await transport.shardProgress(run: runID, round: round)
        while !progress.complete {
            if shouldStop { return nil }
            try await Task.sleep(for: .milliseconds(settings.pollMilliseconds))
            progress = try await transport.shardProgress(run: runID, round: round)
            settings.onProgress?(progress)
        }
        let failedDevices = Set(progress.failedDevices)
        var localHours = [Int](repeating: 0, count: 24)
        for (d, reportTime) in zip(outcome.reported, outcome.reportTimes) where !failedDevices.contains(Int(d)) {
            localHours[fleet.population.localHour(Int(d), at: Int(reportTime.rounded(.down)))] += 1
        }
        return try await closeRound(
            round, fleet: &fleet, runID: runID, start: start, outcome: outcome, failed: failedDevices.count,
            localHours: localHours, trainSeconds: progress.trainSeconds, started: started)
    }

    /// The fleet of a run: the default daily habits, with the run's size, seed and text window.
    public static func population(for c: RunConfiguration) throws -> DevicePopulation {
        var populationConfig = PopulationConfiguration()
        populationConfig.devices = c.devices
        populationConfig.seed = c.seed
        populationConfig.trainingDays = c.trainingDays
        if let wifi = c.homeWiFiFraction { populationConfig.homeWiFiFraction = wifi }
        return try DevicePopulation(populationConfig)
    }

    /// The fleet side of an attached run: its phones, their round simulator, what each phone
    /// does, and where the run stands in virtual time.
    private struct AttachedFleet {
        let configuration: RunConfiguration
        let population: DevicePopulation
        var simulator: RoundSimulator
        let device: any DeviceModel
        let trainer: CohortTrainer
        var nextStart: Int
        var modelBytes: Int
        /// Update bytes accepted in this process.
        var bytesUp: Int64 = 0
        /// Who has reported so far (runs with participation limits).
        var ledger: ParticipationLedger

        init(attachment: RunAttachment, dataset: FederatedDataset, workers: Int) throws {
            let c = attachment.configuration
            configuration = c
            population = try FederatedRunner.population(for: c)
            var rounds = RoundConfiguration()
            rounds.cohort = c.cohort
            rounds.overSelection = c.overSelection
            rounds.reportingDeadline = c.reportingDeadline
            rounds.minimumReportFraction = c.minimumReportFraction
            rounds.epochs = Double(c.client.epochs)
            simulator = try RoundSimulator(
                population: population, configuration: rounds, start: attachment.virtualTime,
                firstRound: attachment.nextRound - 1)
            device = try c.makeDeviceModel(
                vocabularyCount: dataset.vocabulary.count,
                attack: DeviceAttack(
                    configuration: c, backdoor: try Backdoor(configuration: c, vocabulary: dataset.vocabulary)))
            trainer = CohortTrainer(workers: workers)
            nextStart = attachment.virtualTime
            modelBytes = attachment.modelBytes
            ledger = attachment.participation ?? ParticipationLedger()
        }
    }
}
