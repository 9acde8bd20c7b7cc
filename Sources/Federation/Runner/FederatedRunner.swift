import Dispatch
import FederatedCore
public import Fleet
import Foundation
import KeyboardCorpus
import LanguageModels
import UpdateCodec

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

/// Runs the fleet side of a federated run against an aggregation server: selection in
/// virtual time, each reporting device's check-in, download, local training and upload, and
/// the round's close.
///
/// A round is either committed by the server as a whole or not at all, so stopping the
/// runner at any point (``requestStop()``, Ctrl-C, `kill -9`) leaves the store at the last
/// committed round, and ``run(resume:)`` with the run id continues from there with the same
/// random streams: the resumed run reaches the same model as an uninterrupted one.
public final class FederatedRunner: @unchecked Sendable {
    public let transport: any ServerTransport
    /// Called after each committed round.
    public var onRound: (@Sendable (RoundProgress) -> Void)?
    /// Called with each round's cohort (devices' messages and FedAvg weights, in aggregation
    /// order) before it uploads; used to export a workload for tools/bench_fedavg.py.
    public var onCohort: (@Sendable (_ round: Int, _ messages: [[[Int32]]], _ weights: [Int]) -> Void)?
    /// Worker threads for local training (default: all cores).
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// Stop after this many rounds in this process (tests use it to simulate a crash).
    public var roundLimit: Int?
    private let dataset: FederatedDataset
    private let stopLock = NSLock()
    private var stopRequested = false

    /// Creates a runner over `transport`, with the run's text (`dataset`).
    public init(transport: any ServerTransport, dataset: FederatedDataset) {
        self.transport = transport
        self.dataset = dataset
    }

    /// Asks the runner to stop before the next round (safe from a signal handler's queue).
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
        let c = attachment.configuration
        let population = try Self.population(for: c)
        var roundConfig = RoundConfiguration()
        roundConfig.cohort = c.cohort
        roundConfig.overSelection = c.overSelection
        roundConfig.reportingDeadline = c.reportingDeadline
        roundConfig.minimumReportFraction = c.minimumReportFraction
        roundConfig.epochs = Double(c.localEpochs)
        var simulator = try RoundSimulator(
            population: population, configuration: roundConfig, start: attachment.virtualTime,
            firstRound: attachment.nextRound - 1)
        let cohortTrainer = CohortTrainer(workers: workers)
        let scheme = try CodecScheme(parsing: c.codec)
        var modelBytes = attachment.modelBytes
        var progress: [RoundProgress] = []
        var cumulativeUp: Int64 = 0
        var round = attachment.nextRound
        var nextStart = attachment.virtualTime
        var roundsHere = 0
        while round <= c.rounds {
            if shouldStop || (roundLimit.map { roundsHere >= $0 } ?? false) { break }
            let started = DispatchTime.now().uptimeNanoseconds
            func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }

            // Selection and each device's fate, in virtual time, from its real text volume.
            let start = nextStart
            var text: [Int: [[Int32]]] = [:]
            func messages(_ device: Int) -> [[Int32]] {
                if let m = text[device] { return m }
                let m = Self.sample(
                    dataset.trainingMessages(of: device, at: start, population: population),
                    atMost: c.neuralMessageLimit, seed: derivedSeed(c.seed, 0x5A3B1E, UInt64(round), UInt64(device)))
                text[device] = m
                return m
            }
            let outcome = simulator.runRound(
                at: start, updateBytes: estimatedUpdateBytes(c, scheme: scheme, modelBytes: modelBytes),
                modelBytes: modelBytes,
                trainingTokens: { device in
                    let tokens = Double(messages(device).reduce(0) { $0 + $1.count + 1 })
                    return c.isNeural ? tokens : tokens * Self.countingCostPerTrainingToken
                })
            try await transport.openRound(
                run: attachment.runID,
                RoundOpening(
                    round: round, selected: outcome.selected, virtualStart: start, deadline: start + c.reportingDeadline
                ))

            // The reporting devices check in, download the model and do their local work.
            var plans: [TrainingPlan] = []
            for d in outcome.reported {
                plans.append(try await transport.checkIn(run: attachment.runID, round: round, device: Int(d)))
            }
            var reports: [Result<DeviceReport, FederationError>] = []
            if let plan = plans.first {
                let download = try await transport.model(run: attachment.runID, round: round)
                let model = try decodeModel(download, configuration: c, scheme: scheme)
                var jobs: [DeviceJob] = []
                for (d, p) in zip(outcome.reported, plans) {
                    let device = Int(d)
                    if case .ngram = c.model {
                        let through = dataset.currentDay(of: device, at: start, population: population)
                        jobs.append(
                            DeviceJob(
                                device: device,
                                messages: dataset.trainingMessages(
                                    of: device, at: start, population: population, sinceDay: p.contributedThroughDay),
                                textThroughDay: through))
                    } else {
                        jobs.append(DeviceJob(device: device, messages: messages(device)))
                    }
                }
                reports = cohortTrainer.run(jobs, plan: plan, model: model, runSeed: c.seed)
                if let onCohort {
                    let ok = zip(jobs, reports).compactMap { job, r in (try? r.get()).map { (job.messages, $0.tokens) }
                    }
                    onCohort(round, ok.map(\.0), ok.map(\.1))
                }
            }
            let trainSeconds =
                reports.reduce(0.0) { $0 + ((try? $1.get())?.trainSeconds ?? 0) } / Double(max(1, workers))
            if shouldStop { break }  // nothing of this round is committed; a resume redoes it

            // Uploads, in virtual arrival order (the aggregation order). Each accepted report
            // is counted under its device's local hour at the time it reported.
            var failed = 0
            var localHours = [Int](repeating: 0, count: 24)
            for (report, reportTime) in zip(reports, outcome.reportTimes) {
                switch report {
                case .success(let r):
                    let extras = UploadExtras(
                        virtualTime: outcome.closeTime, evaluation: r.evaluation, textThroughDay: r.textThroughDay)
                    _ = try await transport.upload(
                        run: attachment.runID, round: round, device: r.device, bytes: r.bytes, extras: extras)
                    localHours[population.localHour(r.device, at: Int(reportTime.rounded(.down)))] += 1
                case .failure:
                    failed += 1
                }
            }
            let fleetSeconds = elapsed()
            // The next round starts when this one has ended, and no sooner than the interval.
            nextStart = max(outcome.endTime, start + c.roundInterval)
            let summary = try await transport.closeRound(
                run: attachment.runID,
                RoundClosing(
                    round: round, virtualStart: outcome.startTime, virtualEnd: outcome.endTime,
                    nextRoundStart: nextStart, selected: outcome.selected.count,
                    dropped: outcome.dropped.count + failed, stragglers: outcome.stragglers.count,
                    surplus: outcome.surplus.count,
                    bytesDown: Int64(modelBytes)
                        * Int64(
                            outcome.reported.count + outcome.dropped.count + outcome.stragglers.count
                                + outcome.surplus.count),
                    wallSeconds: fleetSeconds, trainSeconds: trainSeconds, reportingLocalHours: localHours))
            modelBytes = summary.modelBytes
            cumulativeUp += summary.bytesUp
            let p = RoundProgress(
                round: round, totalRounds: c.rounds, outcome: outcome, summary: summary, failedDevices: failed,
                fleetSeconds: fleetSeconds, trainSeconds: trainSeconds, cumulativeBytesUp: cumulativeUp)
            progress.append(p)
            onRound?(p)
            round += 1
            roundsHere += 1
        }
        let finished = round > c.rounds
        if roundLimit == nil || finished {
            try await transport.finishRun(attachment.runID, finished: finished)
        }
        return Outcome(attachment: attachment, rounds: progress, finished: finished)
    }

    /// What counting a token's n-grams costs a phone, as a fraction of a training step on it:
    /// a few hash-table updates against the forward and backward pass of a million-parameter
    /// LSTM (about 10⁷ floating-point operations per token). An n-gram device's round is
    /// therefore almost all download and upload, and a heavy typist is not a straggler.
    static let countingCostPerTrainingToken = 0.001

    /// At most `limit` of `messages`, drawn without replacement by `seed` and kept in their
    /// original order; all of them if there are no more than `limit` (or no limit).
    static func sample(_ messages: [[Int32]], atMost limit: Int?, seed: UInt64) -> [[Int32]] {
        guard let limit, messages.count > limit else { return messages }
        var rng = SplitMix64(seed: seed)
        var order = Array(0..<messages.count)
        for i in 0..<limit {
            let j = i + Int(rng.next() % UInt64(messages.count - i))
            order.swapAt(i, j)
        }
        return order[..<limit].sorted().map { messages[$0] }
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

    private func decodeModel(_ bytes: [UInt8], configuration c: RunConfiguration, scheme: CodecScheme) throws
        -> CohortTrainer.Model
    {
        switch c.model {
        case .neural(let config):
            var model = try LSTMLanguageModel(config: config)
            let decoded = try ModelDownload.decodeWeights(
                bytes, layoutHash: model.layoutHash, parameterCount: model.parameters.count)
            model.parameters = decoded.weights
            return .neural(model, scheme: scheme)
        case .ngram(let order):
            return .ngram(order: order, vocabularyCount: dataset.vocabulary.count)
        }
    }

    /// The update size the fleet's timing assumes before training (the real bytes are
    /// recorded): the codec's bits per value over the model's values, or the float32 size
    /// for every codec with ``RunConfiguration/UploadTiming/float32Size``; n-gram updates
    /// are small next to the model.
    private func estimatedUpdateBytes(_ c: RunConfiguration, scheme: CodecScheme, modelBytes: Int) -> Int {
        switch (c.model, c.effectiveUploadTiming) {
        case (.neural, .codecSize): modelBytes * scheme.quantization.bitsPerValue / 32
        case (.neural, .float32Size): modelBytes
        case (.ngram, _): 64 * 1024
        }
    }
}
