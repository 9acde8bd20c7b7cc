public import Aggregation
public import FederatedCore
import Foundation
public import LanguageModelTypes
public import UpdateCodec

/// Everything that defines a federated run: stored as JSON with the run, so the run can be
/// resumed or repeated exactly. Every field has the default `kbd-sim run` uses.
public struct RunConfiguration: Codable, Sendable, Equatable {
    /// Which keyboard model trains.
    public enum ModelKind: Codable, Sendable, Equatable {
        /// The embedding + LSTM model, trained by weight deltas.
        case neural(ModelConfig)
        /// Kneser-Ney of this order, trained by count updates.
        case ngram(order: Int)
    }

    // Data.
    /// The corpus argument (a file or folder, or `synthetic[:SPEC]`).
    public var corpus: String = "synthetic"
    /// A forced corpus format (`nus-sms`, `text`, …), or nil to detect it.
    public var format: String?
    /// Vocabulary size `V` (nwp-v1 default 10,000).
    public var vocabularySize: Int = 10_000

    // Model.
    /// The model's name as given (`cifg-small`, `kn3`, a config path).
    public var modelName: String = "cifg-small"
    /// The resolved model.
    public var model: ModelKind = .ngram(order: 3)
    /// Start the output bias at a Zipf prior over the vocabulary's frequency ranks (no
    /// client data needed: the vocabulary ships ranked).
    public var zipfBias: Bool = true

    // Fleet and rounds.
    /// Virtual phones.
    public var devices: Int = 100_000
    /// Reports wanted per round (`K`).
    public var cohort: Int = 50
    /// Rounds to run.
    public var rounds: Int = 100
    /// Selected devices per wanted report.
    public var overSelection: Double = 1.3
    /// Seconds from selection to the reporting deadline.
    public var reportingDeadline: Int = 600
    /// Fraction of `K` below which a round is abandoned.
    public var minimumReportFraction: Double = 0.8
    /// Days of recent text a device trains on (synthetic corpora; file corpora use all of a
    /// user's training text).
    public var trainingDays: Int = 7
    /// Fraction of phones with home Wi-Fi (the others are never on unmetered Wi-Fi, so never
    /// train); nil: the fleet default (``PopulationConfiguration/homeWiFiFraction``, 0.8).
    /// Optional so that older stored configurations still decode.
    public var homeWiFiFraction: Double?
    /// Virtual seconds from one round's start to the next at the least (0: back to back).
    /// Small fleets need spaced rounds to reach devices in every time zone.
    public var roundInterval: Int = 0
    /// Virtual start time, seconds since 1970 (default Monday 2026-01-05 00:00 UTC).
    public var startTime: Int = 1_767_571_200

    // Client.
    /// How every phone trains (epochs, batch, optimizer, learning rate, clip, length, cap,
    /// dropout); stored flat with the run's other fields.
    public var client = ClientTrainingConfiguration()

    // Server.
    /// The server optimizer and its schedule, e.g. `fedavg`, `fedadam:lr=0.01,halflife=300`.
    public var serverOptimizer: ParsedSetting<ServerOptimizerSpec> = "fedavg"
    /// The update codec scheme, e.g. `q8s,z6` (``CodecScheme``).
    public var codec: ParsedSetting<CodecScheme> = "rot,q8s,z1"
    /// The server's aggregation chain for weight deltas, by stage name (see
    /// ``effectiveAggregationStages``); nil: FedAvg's `decode → weight → sum → server-optimizer`.
    /// Optional so that older stored configurations still decode.
    public var aggregationStages: [String]?
    /// User-level differential privacy (clip, noise, accounting); nil: none. Optional so that
    /// older stored configurations still decode.
    public var privacy: PrivacyConfiguration?
    /// How often one phone may take part; nil: no limit.
    public var participation: ParticipationLimits?
    /// Phones per aggregation shard (docs/scale-out.md): the round's reporting phones, in
    /// arrival order, are summed in consecutive shards of this many, and the shards' partial
    /// sums are merged in shard order, whether one process sums them or workers do. nil: one
    /// sum over the whole round. Optional so that older stored configurations still decode.
    public var shardSize: Int?
    /// Evaluate on the evaluation users every this many rounds (0: only after the last).
    public var evalEvery: Int = 10
    /// Devices also evaluate the downloaded model on their own text before training and
    /// report the counts (federated evaluation).
    public var federatedEval: Bool = false
    /// Also evaluate the model the run starts from, when the run is created (its figure comes
    /// back in ``RunAttachment/startEvaluation``). nil or false: no. Optional so that older
    /// stored configurations still decode.
    public var evaluateStart: Bool?
    /// Keep a full checkpoint every this many rounds (the newest is always kept).
    public var checkpointEvery: Int = 0

    /// Seed of everything random: the fleet, selection, shuffles, dropout, stochastic rounding.
    public var seed: UInt64 = 1

    /// Which upload size the fleet's virtual timing assumes.
    public enum UploadTiming: String, Codable, Sendable, Equatable {
        /// The codec's size (its bits per value over the model's values): a smaller update
        /// uploads sooner, so fewer devices drop out or straggle and rounds end earlier — and
        /// the next round selects at a different virtual time. What a real fleet sees.
        case codecSize
        /// The float32 size, whatever the codec: selection, dropouts, stragglers and every
        /// virtual time are the same for every codec with the same seed, so codecs are
        /// compared on identical cohorts (`kbd-sim bench quant`). Bytes on the wire are still
        /// the codec's real bytes.
        case float32Size
    }

    /// Which upload size the fleet's timing assumes; nil is ``UploadTiming/codecSize``.
    ///
    /// Optional so that configurations stored before this setting existed still decode (and
    /// encode to the same JSON).
    public var uploadTiming: UploadTiming?

    // Evaluation and monitoring (issue 18). All optional, so older stored configurations decode.
    /// The nwp-v1 split of a file corpus: `users` (nil, the default) or `per-user`.
    public var split: String?
    /// The acc@1 below which a user counts as poorly served (nil: 0.05).
    public var userThreshold: Double?
    /// On-phone personalization at every evaluation (nil: off).
    public var personalization: PersonalizationConfiguration?
    /// The regression guard (nil: regressions are still flagged, at the default threshold, but never rolled back).
    public var regressionGuard: RegressionGuard?
    /// The run this one was branched from and the committed round it starts after.
    public var branchedFrom: RunLineage?

    // Attackers (issue 17). All optional, so that older stored configurations still decode.
    /// Compromised phones: a fraction of the fleet in `[0, 1)`, or a whole count ≥ 1; nil or 0: none.
    public var attackers: Double?
    /// What the compromised phones do (``AttackKind``).
    public var attack: ParsedSetting<AttackKind>?
    /// The backdoor's trigger phrase (nil: ``defaultBackdoorTrigger``).
    public var backdoorTrigger: String?
    /// The word the backdoor wants suggested after the trigger; when set, every evaluation also
    /// measures the backdoor (`backdoor@1`, `backdoor@3`).
    public var backdoorTarget: String?

    /// Secure aggregation of the neural updates (`--secure-aggregation`); nil: plain
    /// aggregation. Optional, so that older stored configurations still decode.
    public var secureAggregation: SecureAggregationSettings?

    /// The trigger phrase when none is given.
    public static let defaultBackdoorTrigger = "my password is"

    /// ``uploadTiming`` with its default applied.
    public var effectiveUploadTiming: UploadTiming { uploadTiming ?? .codecSize }

    public init() {}

    /// The aggregation chain the server runs on weight deltas: the one given, else the
    /// privacy settings' chain, else FedAvg's.
    public var effectiveAggregationStages: [String] {
        if let aggregationStages { return aggregationStages }
        if secureAggregation != nil { return Self.secureAggregationStages }
        if let privacy { return Self.privateAggregationStages(privacy) }
        return Self.defaultAggregationStages
    }

    /// The chain user-level DP runs: bounded weights, the clip, then the Gaussian noise and
    /// the server optimizer (DP-FedAvg), or the sum into DP-FTRL's tree.
    public static func privateAggregationStages(_ privacy: PrivacyConfiguration) -> [String] {
        switch privacy.mechanism {
        case .gaussian: ["decode", "weight:\(privacy.weighting)", "clip", "gaussian-noise", "sum", "server-optimizer"]
        case .tree: ["decode", "weight:\(privacy.weighting)", "clip", "sum", "ftrl-tree"]
        case .skellam: secureAggregationStages
        }
    }

    /// FedAvg's chain: decode → weight by examples → sum → server optimizer.
    public static let defaultAggregationStages = ["decode", "weight", "sum", "server-optimizer"]

    /// The configuration as pretty, key-sorted JSON (what the run record stores).
    public func encodedJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        // Encoding plain value types cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Reads a configuration stored by ``encodedJSON()``.
    public static func decode(json: String) throws(FederationError) -> RunConfiguration {
        do {
            return try JSONDecoder().decode(RunConfiguration.self, from: Data(json.utf8))
        } catch {
            throw FederationError(
                .invalidConfiguration,
                "the stored run configuration cannot be read (\(error)); was it written by a newer kbd-sim?",
                cause: error)
        }
    }
}
