public import SecureAggregation

/// What the server tells the cohort when a secure-aggregation round starts: who is in it (the
/// phone index of a device is its position in ``devices``), k and t, the ring's input bits,
/// the vector length and the public seed of the neighbour graph. Every phone builds the same
/// ``SecureAggregationConfiguration`` from it.
public struct SecureAggregationSetup: Codable, Sendable, Equatable {
    /// The round (bound into every key and message).
    public var round: Int
    /// The cohort, in phone-index order.
    public var devices: [UInt32]
    /// k, each phone's neighbours.
    public var neighbours: Int
    /// t, the shares that rebuild a secret.
    public var threshold: Int
    /// Whether (k, t) meet the privacy and correctness targets (false below about 50 phones,
    /// where the complete graph is used).
    public var meetsTargets: Bool
    /// b, the codes' bits.
    public var inputBits: Int
    /// Coordinates per input (the model's parameter count).
    public var vectorLength: Int
    /// The neighbour graph's public seed.
    public var graphSeed: UInt64
    /// Distributed DP: m, the ring of the phones' signed noisy integers (inputs are then any
    /// elements of Z_2^m, ``MaskRing/init(ringBits:)``); nil for codes.
    public var ringBits: Int?
    /// Distributed DP: μ/t, the Skellam variance every phone adds to each coordinate.
    public var phoneNoiseVariance: Double?

    public init(
        round: Int, devices: [UInt32], neighbours: Int, threshold: Int, meetsTargets: Bool, inputBits: Int,
        vectorLength: Int, graphSeed: UInt64, ringBits: Int? = nil, phoneNoiseVariance: Double? = nil
    ) {
        self.round = round
        self.devices = devices
        self.neighbours = neighbours
        self.threshold = threshold
        self.meetsTargets = meetsTargets
        self.inputBits = inputBits
        self.vectorLength = vectorLength
        self.graphSeed = graphSeed
        self.ringBits = ringBits
        self.phoneNoiseVariance = phoneNoiseVariance
    }

    /// The round's protocol configuration.
    ///
    /// - Throws: ``SecureAggregationError/Code/ringTooSmall`` when b + ⌈log2 K⌉ exceeds 32 bits.
    public func configuration() throws(SecureAggregationError) -> SecureAggregationConfiguration {
        if let ringBits {
            return try SecureAggregationConfiguration(
                round: UInt64(round),
                parameters: SecureAggregationParameters(
                    cohortSize: devices.count, neighbours: neighbours, threshold: threshold),
                ringBits: ringBits, vectorLength: vectorLength, graphSeed: graphSeed)
        }
        return try SecureAggregationConfiguration(
            round: UInt64(round),
            parameters: SecureAggregationParameters(
                cohortSize: devices.count, neighbours: neighbours, threshold: threshold),
            inputBits: inputBits, vectorLength: vectorLength, graphSeed: graphSeed)
    }
}

/// The server's answer when a secure-aggregation stage closes: the messages for the phones
/// still in the round, or the reason the round was abandoned.
public struct SecureAggregationReply<Answer: Sendable>: Sendable {
    /// What the phones get next; nil when the round was abandoned (or a stage is still open).
    public var answer: Answer?
    /// Why the round was abandoned (it commits as abandoned, with the model unchanged).
    public var abandonment: String?
    /// Messages of this call the server refused (their senders leave the round).
    public var refused: Int
    /// The server's compute for this call, milliseconds.
    public var serverMilliseconds: Double

    public init(answer: Answer?, abandonment: String? = nil, refused: Int = 0, serverMilliseconds: Double = 0) {
        self.answer = answer
        self.abandonment = abandonment
        self.refused = refused
        self.serverMilliseconds = serverMilliseconds
    }
}

/// The end of a secure-aggregation round on the server: whose input is in the sum, and how
/// many phones' pairwise masks were removed through their neighbours' shares.
public struct SecureAggregationOutcome: Codable, Sendable, Equatable {
    /// Phone indices whose input is in the sum, ascending.
    public var contributors: [Int]
    /// Phones that shared keys and then dropped before sending their masked input: the
    /// server rebuilt their mask keys from t shares and removed their masks (the recovery path).
    public var recovered: Int

    public init(contributors: [Int], recovered: Int) {
        self.contributors = contributors
        self.recovered = recovered
    }
}

/// One phone's quantized update in the clear (``SecureAggregationSettings/Summation/plain``,
/// the comparison mode; never under masking).
public struct PlainQuantizedInput: Sendable, Equatable {
    /// The phone's index in the round's ``SecureAggregationSetup/devices``.
    public var phone: Int
    /// One b-bit code per coordinate.
    public var codes: [UInt8]
    /// Tokens it trained on (public under secure aggregation too, for reporting).
    public var tokens: Int
    /// Distributed DP: the phone's noisy signed integers as elements of Z_2^m (``codes`` is
    /// then empty).
    public var ringElements: [UInt32]?

    public init(phone: Int, codes: [UInt8], tokens: Int, ringElements: [UInt32]? = nil) {
        self.phone = phone
        self.codes = codes
        self.tokens = tokens
        self.ringElements = ringElements
    }
}

/// What secure aggregation cost in one round, as `kbd-sim run` reports it and the store keeps
/// it (the `secure-aggregation` stage report).
public struct SecureAggregationReport: Codable, Sendable, Equatable {
    /// One protocol stage.
    public struct Stage: Codable, Sendable, Equatable {
        /// `advertise-keys`, `share-keys`, `masked-input`, `unmask` (or `plain-input`).
        public var stage: String
        /// Phones that sent this stage's message.
        public var phones: Int
        /// Mean bytes a phone uploaded (``wireByteCount`` of its message).
        public var bytesUpPerPhone: Double
        /// Mean bytes a phone downloaded to start the stage.
        public var bytesDownPerPhone: Double
        /// Mean phone compute, milliseconds.
        public var phoneMilliseconds: Double
        /// Server compute (taking the messages and closing the stage), milliseconds.
        public var serverMilliseconds: Double

        public init(
            stage: String, phones: Int, bytesUpPerPhone: Double, bytesDownPerPhone: Double,
            phoneMilliseconds: Double, serverMilliseconds: Double
        ) {
            self.stage = stage
            self.phones = phones
            self.bytesUpPerPhone = bytesUpPerPhone
            self.bytesDownPerPhone = bytesDownPerPhone
            self.phoneMilliseconds = phoneMilliseconds
            self.serverMilliseconds = serverMilliseconds
        }
    }

    /// `masked` or `plain`.
    public var summation: String
    /// K, the phones that started the protocol.
    public var cohort: Int
    /// k and t (0 in plain mode).
    public var neighbours: Int
    public var threshold: Int
    /// b and m: bits of a code and of a masked coordinate (m = b in plain mode).
    public var inputBits: Int
    public var ringBits: Int
    /// The stages reached, in order.
    public var stages: [Stage]
    /// Phones whose input is in the sum.
    public var contributors: Int
    /// Phones that dropped out between stages.
    public var droppedBetweenStages: Int
    /// Of which: phones that stopped being eligible in a gap (unplugged, off Wi-Fi, in use);
    /// the rest failed at random (``SecureAggregationSettings/stageDropout``). nil in reports
    /// stored before it was counted.
    public var unplugged: Int?
    /// Phones whose masks were removed through their neighbours' shares.
    public var recovered: Int
    /// Messages the server or a phone refused.
    public var refused: Int
    /// Why the round was abandoned, if it was.
    public var abandoned: String?

    public init(
        summation: String, cohort: Int, neighbours: Int, threshold: Int, inputBits: Int, ringBits: Int,
        stages: [Stage], contributors: Int, droppedBetweenStages: Int, recovered: Int, refused: Int,
        abandoned: String?
    ) {
        self.summation = summation
        self.cohort = cohort
        self.neighbours = neighbours
        self.threshold = threshold
        self.inputBits = inputBits
        self.ringBits = ringBits
        self.stages = stages
        self.contributors = contributors
        self.droppedBetweenStages = droppedBetweenStages
        self.recovered = recovered
        self.refused = refused
        self.abandoned = abandoned
    }

    /// Mean bytes one phone uploaded over the stages.
    public var bytesUpPerPhone: Double { stages.reduce(0) { $0 + $1.bytesUpPerPhone } }
    /// Mean bytes one phone downloaded over the stages.
    public var bytesDownPerPhone: Double { stages.reduce(0) { $0 + $1.bytesDownPerPhone } }
    /// A phone's mean protocol compute over the stages, milliseconds.
    public var phoneMilliseconds: Double { stages.reduce(0) { $0 + $1.phoneMilliseconds } }
    /// The server's protocol compute, milliseconds.
    public var serverMilliseconds: Double { stages.reduce(0) { $0 + $1.serverMilliseconds } }
}
