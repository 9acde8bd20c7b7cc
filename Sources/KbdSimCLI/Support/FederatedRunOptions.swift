import Aggregation
import ArgumentParser
import FederatedCore
import Federation
import FederationProtocol
import FederationServer
internal import Foundation
import KeyboardCorpus
import LanguageModelTypes
import UpdateCodec

/// The flags of a federated run that `kbd-sim run` and `kbd-sim bench quant` share: the
/// corpus, model, fleet, rounds, client and server settings, workers and the store.
///
/// The codec, the seed and the evaluation schedule are the commands' own (one codec and
/// seed for `run`, lists for `bench quant`).
struct FederatedRunOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A corpus file or folder (NUS SMS zip/XML, .txt, .tsv, .jsonl), or synthetic[:SPEC].", valueName: "path"))
    var corpus: String = "synthetic"

    @Option(
        name: .long,
        help:
            "Force the corpus format instead of detecting it: \(CorpusFormat.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var format: CorpusFormat?

    @Option(name: .long, help: "Vocabulary size V: the V most frequent training tokens.")
    var vocab: Int = 10_000

    @Option(
        name: .long,
        help: ArgumentHelp(
            "cifg-small, cifg-gboard, lstm-tiny, a model config file, or kn1…kn5 (federated n-gram counts).",
            valueName: "model"))
    var model: String = "cifg-small"

    @Option(
        name: .long,
        help: "Virtual phones in the fleet (default: 100000; for a file corpus, its number of training users).")
    var devices: Int?

    @Option(name: .long, help: "Reports wanted per round (K).")
    var cohort: Int = 50

    @Option(name: .long, help: "Rounds to run.")
    var rounds: Int = 100

    @Option(name: .long, help: "Devices selected per wanted report (1.3 = 130%).")
    var overSelection: Double = 1.3

    @Option(name: .long, help: "Reporting deadline in virtual seconds.")
    var deadline: Int = 600

    @Option(name: .long, help: "A round with fewer than this fraction of K reports is abandoned.")
    var minReportFraction: Double = 0.8

    @Option(
        name: .long,
        help:
            "Virtual seconds from one round's start to the next at the least (0: back to back); small fleets need spaced rounds to reach every time zone."
    )
    var roundInterval: Int = 0

    @Option(name: .long, help: "Fraction of phones with home Wi-Fi; the others never train (default: the fleet's 0.8).")
    var homeWifiFraction: Double?

    @Option(name: .long, help: "Days of recent text a device trains on (synthetic corpora).")
    var trainingDays: Int = 7

    @Option(name: .long, help: "Local epochs per round (E).")
    var localEpochs: Int = 1

    @Option(name: .long, help: "Local minibatch size in messages (B).")
    var batch: Int = 16

    @Option(name: .long, help: "On-device optimizer: sgd, or adam (its moments start afresh every round).")
    var clientOpt: ClientTrainingConfiguration.Optimizer = .sgd

    @Option(name: .long, help: "Client learning rate.")
    var clientLr: Float = 0.5

    @Option(name: .long, help: "Client global-norm gradient clip.")
    var clientClip: Float = 5

    @Option(
        name: .long,
        help:
            "A device trains on at most N of its messages per round, a fresh random sample each round (default: all), so heavy typists finish before the deadline."
    )
    var maxDeviceMessages: Int?

    @Option(name: .long, help: "Dropout rate during on-device training, at least 0 and below 1 (default: none).")
    var clientDropout: Float?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Server optimizer: fedavg, fedavgm, fedadam, fedyogi, with :key=value options (lr, momentum, beta1, beta2, tau, and halflife=R to halve the rate every R rounds; e.g. fedadam:lr=0.01,tau=0.001,halflife=150).",
            valueName: "optimizer"),
        transform: { try ParsedSetting.parse($0, flag: "--server-opt") })
    var serverOpt: ParsedSetting<ServerOptimizerSpec> = "fedavg"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The server's aggregation chain, stages joined by commas: decode,weight[:examples|:uniform],sum,server-optimizer (the default), with further stages between.",
            valueName: "stages"))
    var aggregation: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Sum each round's reporting phones in shards of this many (in arrival order) and merge the shards in order: what workers do (--remote-training); the same model in process.",
            valueName: "phones"))
    var shardSize: Int?

    @OptionGroup(title: "Differential privacy and participation")
    var privacy: PrivacyOptions

    @OptionGroup(title: "Per-user figures, personalization, FedProx and the regression guard")
    var evaluation: EvaluationOptions

    @Flag(name: .long, help: "Devices also evaluate the downloaded model on their own text (federated evaluation).")
    var federatedEval = false

    @Flag(
        name: .long,
        help: "Also evaluate the model the run starts from (a 'start' row before round 1; a new run only).")
    var evalStart = false

    @Option(name: .long, help: "Keep a checkpoint every N rounds besides the newest (0: only the newest).")
    var checkpointEvery: Int = 0

    @Flag(name: .long, inversion: .prefixedNo, help: "Start the output bias at a Zipf prior over vocabulary ranks.")
    var zipfBias = true

    @Option(name: .long, help: "The SQLite run store.")
    var db: String = "runs.sqlite"

    @Option(name: .long, help: "Worker threads for the devices' local training (default: all cores).")
    var workers: Int?

    @Flag(name: .long, help: "Read the corpus source again instead of the tokenized-corpus cache.")
    var noCache = false

    func validate() throws {
        if let workers, !(1...64).contains(workers) {
            throw ValidationError("--workers must be in 1…64 (got \(workers))")
        }
    }

    /// The run configuration from these flags and the command's own codec, evaluation
    /// schedule and seed; every field is checked (a bad one is a `ValidationError`, exit 64).
    ///
    /// - Parameter privacyNoise: the noise of a privacy benchmark's experiments (its DP settings
    ///   come from the --dp-* flags with this noise), or nil for --dp-noise.
    func runConfiguration(
        codec: ParsedSetting<CodecScheme>, evalEvery: Int, seed: UInt64, privacyNoise: Double? = nil
    ) throws -> RunConfiguration {
        try privacy.check(noiseElsewhere: privacyNoise != nil)
        var c = RunConfiguration()
        c.corpus = corpus
        c.format = format?.rawValue
        c.vocabularySize = vocab
        c.modelName = model
        if let order = Self.ngramOrder(model) {
            c.model = .ngram(order: order)
        } else {
            var config = try resolveModelConfig(model)
            config.vocabularySize = vocab + 4
            do { try config.validate() } catch { throw ValidationError("--model \(model): \(error)") }
            c.model = .neural(config)
        }
        c.zipfBias = zipfBias
        c.devices = devices ?? 100_000
        c.cohort = cohort
        c.rounds = rounds
        c.overSelection = overSelection
        c.reportingDeadline = deadline
        c.minimumReportFraction = minReportFraction
        c.trainingDays = trainingDays
        c.homeWiFiFraction = homeWifiFraction
        c.roundInterval = roundInterval
        c.client.epochs = localEpochs
        c.client.batchSize = batch
        c.client.optimizer = clientOpt
        c.client.learningRate = clientLr
        c.client.clipNorm = clientClip
        c.client.messageCap = maxDeviceMessages
        c.client.dropout = clientDropout
        c.serverOptimizer = serverOpt
        c.aggregationStages = aggregation.map {
            $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        c.privacy = privacy.configuration(noise: privacyNoise, ngramOrder: Self.ngramOrder(model))
        c.participation = privacy.limits
        c.shardSize = shardSize
        c.codec = codec
        c.evalEvery = evalEvery
        c.federatedEval = federatedEval
        c.evaluateStart = evalStart ? true : nil
        c.checkpointEvery = checkpointEvery
        c.seed = seed
        evaluation.apply(to: &c)
        do { try c.validate() } catch { throw ValidationError(error.message) }
        return c
    }

    /// `kn3` → 3; nil for a neural model.
    static func ngramOrder(_ model: String) -> Int? {
        guard model.hasPrefix("kn"), let n = Int(model.dropFirst(2)) else { return nil }
        return n
    }

    /// Sizes the fleet to a file corpus (one phone per training user) unless --devices was
    /// given, then checks that a cohort fits in it.
    func fitFleet(_ c: inout RunConfiguration, to dataset: FederatedDataset) throws {
        if devices == nil, let users = dataset.trainingUserCount { c.devices = users }
        let selection = Int((Double(c.cohort) * c.overSelection).rounded(.up))
        if selection > c.devices {
            throw ValidationError(
                "a cohort of \(c.cohort) with \(Int(c.overSelection * 100))% over-selection selects \(selection) devices, more than the fleet of \(c.devices); lower --cohort or raise --devices"
            )
        }
    }
}
