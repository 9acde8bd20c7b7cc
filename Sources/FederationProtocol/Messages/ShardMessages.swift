public import LanguageModelTypes

// Scale-out (docs/scale-out.md): the fleet driver publishes a round's training as shards,
// workers lease them from the coordinator (the aggregation server), train each shard's
// phones, pre-aggregate their updates and upload one partial aggregate per shard.

/// One shard of a round: consecutive reporting phones in arrival order, with their plans.
public struct ShardAssignment: Codable, Sendable, Equatable {
    /// The shard's index: its phones are reporting positions `index·S ..< (index+1)·S`.
    public var index: Int
    /// The shard's phones, in arrival order.
    public var devices: [Int]
    /// Each phone's training plan (what its check-in returned), in the same order.
    public var plans: [TrainingPlan]

    public init(index: Int, devices: [Int], plans: [TrainingPlan]) {
        self.index = index
        self.devices = devices
        self.plans = plans
    }
}

/// `POST /v1/runs/{run}/rounds/{round}/shards`: the open round's training, for workers.
public struct ShardPublication: Codable, Sendable, Equatable {
    public var round: Int
    /// Virtual time the round selected at (each phone's text is its text at that time).
    public var virtualStart: Int
    /// Virtual time of the reports (the uploads' ``UploadExtras/virtualTime``).
    public var reportTime: Int
    public var shards: [ShardAssignment]
    /// Wall seconds a worker has for a shard before it is leased to another one.
    public var leaseSeconds: Double

    public init(round: Int, virtualStart: Int, reportTime: Int, shards: [ShardAssignment], leaseSeconds: Double) {
        self.round = round
        self.virtualStart = virtualStart
        self.reportTime = reportTime
        self.shards = shards
        self.leaseSeconds = leaseSeconds
    }
}

/// `POST /v1/work/lease` body: who asks.
public struct LeaseRequest: Codable, Sendable, Equatable {
    /// The worker's name in metrics and logs (e.g. `slot-3@host`); not trusted for anything.
    public var worker: String

    public init(worker: String) { self.worker = worker }
}

/// A shard leased to one worker until ``deadlineSeconds`` from now.
public struct ShardLease: Codable, Sendable, Equatable {
    /// The lease's id (a shard leased again gets a new one).
    public var lease: Int64
    /// The lease's bearer credential: the model download and the partial's upload need it.
    public var credential: String
    public var run: Int64
    public var round: Int
    /// The run as stored (the worker builds the phones' data and models from it).
    public var configuration: RunConfiguration
    public var virtualStart: Int
    public var reportTime: Int
    public var shard: ShardAssignment
    /// Wall seconds until the shard may be leased to another worker.
    public var deadlineSeconds: Double

    public init(
        lease: Int64, credential: String, run: Int64, round: Int, configuration: RunConfiguration, virtualStart: Int,
        reportTime: Int, shard: ShardAssignment, deadlineSeconds: Double
    ) {
        self.lease = lease
        self.credential = credential
        self.run = run
        self.round = round
        self.configuration = configuration
        self.virtualStart = virtualStart
        self.reportTime = reportTime
        self.shard = shard
        self.deadlineSeconds = deadlineSeconds
    }
}

/// What a worker did with each phone of its shard (the partial's accounting).
public struct ShardDeviceReport: Codable, Sendable, Equatable {
    public var device: Int
    /// False: the phone's update could not be encoded (its training diverged); not summed.
    public var reported: Bool
    /// Bytes of its encoded update (what it would have uploaded).
    public var bytes: Int
    /// Training tokens.
    public var tokens: Int
    /// Its federated evaluation, when the run asks for one.
    public var evaluation: NextWordMetrics?
    public var trainSeconds: Double

    public init(
        device: Int, reported: Bool, bytes: Int, tokens: Int, evaluation: NextWordMetrics?, trainSeconds: Double
    ) {
        self.device = device
        self.reported = reported
        self.bytes = bytes
        self.tokens = tokens
        self.evaluation = evaluation
        self.trainSeconds = trainSeconds
    }
}

/// The coordinator's answer to a partial.
public struct PartialReceipt: Codable, Sendable, Equatable {
    /// False when this lease's partial had already been accepted (an idempotent retry).
    public var accepted: Bool
    /// Shards of the round received so far.
    public var shardsReceived: Int

    public init(accepted: Bool, shardsReceived: Int) {
        self.accepted = accepted
        self.shardsReceived = shardsReceived
    }
}

/// `GET /v1/runs/{run}/rounds/{round}/shards`: how far the workers are.
public struct ShardProgress: Codable, Sendable, Equatable {
    public var round: Int
    public var shards: Int
    public var received: Int
    /// Shards leased now and not yet received.
    public var leased: Int
    /// Leases that expired and whose shard went back to the queue (this round).
    public var releases: Int
    /// Phones whose update could not be encoded, over the received shards.
    public var failedDevices: [Int]
    /// Σ over received shards of the workers' training seconds.
    public var trainSeconds: Double

    public var complete: Bool { received == shards }

    public init(
        round: Int, shards: Int, received: Int, leased: Int, releases: Int, failedDevices: [Int], trainSeconds: Double
    ) {
        self.round = round
        self.shards = shards
        self.received = received
        self.leased = leased
        self.releases = releases
        self.failedDevices = failedDevices
        self.trainSeconds = trainSeconds
    }
}
