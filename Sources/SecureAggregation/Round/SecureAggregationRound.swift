internal import Foundation

/// Runs one whole secure-aggregation round in process: K phone state machines and one server
/// state machine, messages passed by value, phones dropping out between stages on a schedule.
///
/// The driver is the transport of a simulation: it delivers each phone's message to the
/// server, each closing stage's messages to the phones still in the round, and measures bytes
/// (``wireByteCount`` of every message) and compute time per stage. Phones of one stage run in
/// parallel on ``parallelism`` tasks, in batches so that at most a batch of masked inputs
/// exists at once; the server takes their messages in phone order.
public struct SecureAggregationRound: Sendable {
    /// Hooks that alter messages in flight, to test bad input (all nil in normal runs).
    public struct Tampering: Sendable {
        /// Alters a phone's advertised keys; return nil to send nothing.
        public var advertiseKeys: (@Sendable (AdvertiseKeysMessage) -> [AdvertiseKeysMessage])?
        /// Alters a phone's share message; returns the messages sent instead (may be several).
        public var shareKeys: (@Sendable (ShareKeysMessage) -> [ShareKeysMessage])?
        /// Alters what the server forwards to a phone.
        public var forwardedShares: (@Sendable (ForwardedSharesMessage) -> ForwardedSharesMessage)?
        /// Alters a phone's masked input; returns the messages sent instead.
        public var maskedInput: (@Sendable (MaskedInputMessage) -> [MaskedInputMessage])?
        /// Alters a phone's unmask message; returns the messages sent instead.
        public var unmask: (@Sendable (UnmaskMessage) -> [UnmaskMessage])?

        /// No tampering.
        public init() {}
    }

    /// Bytes and time of one stage.
    public struct StageCost: Sendable, Hashable {
        /// The stage.
        public var stage: SecureAggregationStage
        /// Phones that sent this stage's message.
        public var phones: Int
        /// Mean bytes a phone uploaded in this stage (over the phones that sent).
        public var bytesUpPerPhone: Double
        /// Mean bytes a phone downloaded to start this stage (over the phones that received).
        public var bytesDownPerPhone: Double
        /// Mean compute of one phone in this stage, milliseconds.
        public var phoneMilliseconds: Double
        /// Largest compute of one phone in this stage, milliseconds.
        public var maxPhoneMilliseconds: Double
        /// The server's compute for this stage (taking the messages and closing it), milliseconds.
        public var serverMilliseconds: Double
    }

    /// What a round gave and cost.
    public struct Outcome: Sendable {
        /// The sum and its contributors, or the reason the round was abandoned.
        public var result: Swift.Result<SecureAggregationServer.Result, SecureAggregationError>
        /// One entry per stage reached.
        public var stages: [StageCost]
        /// Every message the server or a phone refused, in order.
        public var refusals: [SecureAggregationError]
        /// The server's compute over the whole round, milliseconds.
        public var serverMilliseconds: Double { stages.reduce(0) { $0 + $1.serverMilliseconds } }
        /// A contributing phone's mean compute over the round, milliseconds (sum of stage means).
        public var phoneMilliseconds: Double { stages.reduce(0) { $0 + $1.phoneMilliseconds } }
    }

    /// The round's configuration.
    public let configuration: SecureAggregationConfiguration
    /// For each phone that drops out, the last stage whose message it sends (it sends nothing
    /// after). Phones not listed take part to the end.
    public let dropsAfter: [Int: SecureAggregationStage]
    /// Phones that never show up (they advertise nothing).
    public let absent: Set<Int>
    /// Seeds the phones' secrets (a simulation; real phones use the system's CSPRNG).
    public let seed: UInt64
    /// Tasks the phones of a stage run on.
    public let parallelism: Int
    /// Message hooks for tests.
    public let tampering: Tampering
    /// Threads the server's unmask pass uses (``SecureAggregationServer/unmaskThreads``).
    public var serverThreads = ProcessInfo.processInfo.activeProcessorCount

    /// Creates a round.
    public init(
        configuration: SecureAggregationConfiguration, dropsAfter: [Int: SecureAggregationStage] = [:],
        absent: Set<Int> = [], seed: UInt64, parallelism: Int = 2, tampering: Tampering = Tampering()
    ) {
        precondition(parallelism >= 1, "parallelism must be ≥ 1")
        self.configuration = configuration
        self.dropsAfter = dropsAfter
        self.absent = absent
        self.seed = seed
        self.parallelism = parallelism
        self.tampering = tampering
    }

    /// A seeded schedule: each phone drops with probability `fraction`, after a stage drawn
    /// uniformly from advertise keys, share keys and masked input (so `fraction` is the share
    /// of the cohort lost during the protocol, spread over its three gaps).
    public static func dropoutSchedule(cohortSize: Int, fraction: Double, seed: UInt64) -> [Int: SecureAggregationStage]
    {
        var rng = ShuffleGenerator(seed: seed ^ 0xD809)
        var out: [Int: SecureAggregationStage] = [:]
        let stages: [SecureAggregationStage] = [.advertiseKeys, .shareKeys, .maskedInput]
        for phone in 0..<cohortSize where Double(rng.next() >> 11) / Double(1 << 53) < fraction {
            out[phone] = stages[Int(rng.next() % 3)]
        }
        return out
    }

    private func sends(_ phone: Int, _ stage: SecureAggregationStage) -> Bool {
        if absent.contains(phone) { return false }
        guard let last = dropsAfter[phone] else { return true }
        return stage <= last
    }

    /// Runs the round.
    ///
    /// - Parameter input: phone → its b-bit input (called once per phone that reaches the
    ///   masked-input stage, from any task).
    public func run(input: @escaping @Sendable (Int) -> [UInt32]) async -> Outcome {
        let config = configuration
        let k = config.cohortSize
        var server = SecureAggregationServer(configuration: config)
        server.unmaskThreads = max(1, serverThreads)
        var clients: [SecureAggregationClient?] = (0..<k).map { phone in
            var rng = ShuffleGenerator(seed: seed &+ 0x51_7CC1 &* UInt64(phone + 1))
            return SecureAggregationClient(phone: phone, configuration: config, using: &rng)
        }
        var refusals: [SecureAggregationError] = []
        var stages: [StageCost] = []
        func abandoned(_ e: SecureAggregationError) -> Outcome {
            Outcome(result: .failure(e), stages: stages, refusals: refusals)
        }

        // Stage 0.
        var up = Accumulator()
        var serverTime = 0.0
        var phoneTimes: [Double] = []
        for phone in 0..<k where sends(phone, .advertiseKeys) {
            let start = ContinuousClock.now
            guard let message = try? clients[phone]!.advertiseKeys() else { continue }
            phoneTimes.append(Self.milliseconds(since: start))
            for m in tampering.advertiseKeys?(message) ?? [message] {
                up.add(m.wireByteCount)
                let s = ContinuousClock.now
                do { try server.receive(m) } catch { refusals.append(error) }
                serverTime += Self.milliseconds(since: s)
            }
        }
        var s = ContinuousClock.now
        let keyMessages: [NeighbourKeysMessage]
        switch server.closeAdvertiseKeys() {
        case .send(let m): keyMessages = m
        case .abandon(let e):
            stages.append(
                StageCost(.advertiseKeys, up, Accumulator(), phoneTimes, serverTime + Self.milliseconds(since: s)))
            return abandoned(e)
        }
        serverTime += Self.milliseconds(since: s)
        stages.append(StageCost(.advertiseKeys, up, Accumulator(), phoneTimes, serverTime))

        // Stage 1.
        up = Accumulator()
        var down = Accumulator()
        serverTime = 0
        phoneTimes = []
        for message in keyMessages where sends(message.phone, .shareKeys) {
            let phone = message.phone
            down.add(message.wireByteCount)
            var rng = ShuffleGenerator(seed: seed &+ 0x5_4A8E &* UInt64(phone + 1))
            let start = ContinuousClock.now
            let output: SecureAggregationClient.Output<ShareKeysMessage>
            do { output = try clients[phone]!.shareKeys(message, using: &rng) } catch {
                refusals.append(error)
                clients[phone] = nil
                continue
            }
            phoneTimes.append(Self.milliseconds(since: start))
            refusals += output.refusals
            for m in tampering.shareKeys?(output.message) ?? [output.message] {
                up.add(m.wireByteCount)
                let s = ContinuousClock.now
                do { try server.receive(m) } catch { refusals.append(error) }
                serverTime += Self.milliseconds(since: s)
            }
        }
        s = ContinuousClock.now
        let forwarded: [ForwardedSharesMessage]
        switch server.closeShareKeys() {
        case .send(let m): forwarded = m
        case .abandon(let e):
            stages.append(StageCost(.shareKeys, up, down, phoneTimes, serverTime + Self.milliseconds(since: s)))
            return abandoned(e)
        }
        serverTime += Self.milliseconds(since: s)
        stages.append(StageCost(.shareKeys, up, down, phoneTimes, serverTime))

        // Stage 2: the expensive one, in parallel batches.
        up = Accumulator()
        down = Accumulator()
        serverTime = 0
        phoneTimes = []
        let due = forwarded.filter { sends($0.phone, .maskedInput) && clients[$0.phone] != nil }
        let batchSize = 4 * parallelism
        var index = 0
        while index < due.count {
            let batch = Array(due[index..<min(index + batchSize, due.count)])
            index += batch.count
            let tamper = tampering.forwardedShares
            let work = batch.map { (clients[$0.phone]!, tamper?($0) ?? $0) }
            let results = await withTaskGroup(
                of: (
                    Int, SecureAggregationClient,
                    Result<SecureAggregationClient.Output<MaskedInputMessage>, SecureAggregationError>, Double
                ).self
            ) { group in
                for (slot, (client, message)) in work.enumerated() {
                    group.addTask {
                        var client = client
                        let vector = input(client.phone)
                        let start = ContinuousClock.now
                        let r = Result { () throws(SecureAggregationError) in
                            try client.maskedInput(message, input: vector)
                        }
                        return (slot, client, r, Self.milliseconds(since: start))
                    }
                }
                var out:
                    [(
                        Int, SecureAggregationClient,
                        Result<SecureAggregationClient.Output<MaskedInputMessage>, SecureAggregationError>, Double
                    )] = []
                for await r in group { out.append(r) }
                return out.sorted { $0.0 < $1.0 }
            }
            for (slot, client, result, ms) in results {
                down.add(work[slot].1.wireByteCount)
                switch result {
                case .failure(let e):
                    refusals.append(e)
                    clients[client.phone] = nil
                case .success(let output):
                    clients[client.phone] = client
                    phoneTimes.append(ms)
                    refusals += output.refusals
                    for m in tampering.maskedInput?(output.message) ?? [output.message] {
                        up.add(m.wireByteCount)
                        let s = ContinuousClock.now
                        do { try server.receive(m) } catch { refusals.append(error) }
                        serverTime += Self.milliseconds(since: s)
                    }
                }
            }
        }
        s = ContinuousClock.now
        let requests: [UnmaskRequestMessage]
        switch server.closeMaskedInput() {
        case .send(let m): requests = m
        case .abandon(let e):
            stages.append(StageCost(.maskedInput, up, down, phoneTimes, serverTime + Self.milliseconds(since: s)))
            return abandoned(e)
        }
        serverTime += Self.milliseconds(since: s)
        stages.append(StageCost(.maskedInput, up, down, phoneTimes, serverTime))

        // Stage 3.
        up = Accumulator()
        down = Accumulator()
        serverTime = 0
        phoneTimes = []
        for request in requests where sends(request.phone, .unmask) {
            guard clients[request.phone] != nil else { continue }
            down.add(request.wireByteCount)
            let start = ContinuousClock.now
            let output: SecureAggregationClient.Output<UnmaskMessage>
            do { output = try clients[request.phone]!.unmask(request) } catch {
                refusals.append(error)
                continue
            }
            phoneTimes.append(Self.milliseconds(since: start))
            refusals += output.refusals
            for m in tampering.unmask?(output.message) ?? [output.message] {
                up.add(m.wireByteCount)
                let s = ContinuousClock.now
                do { try server.receive(m) } catch { refusals.append(error) }
                serverTime += Self.milliseconds(since: s)
            }
        }
        s = ContinuousClock.now
        let finished = server.finish()
        serverTime += Self.milliseconds(since: s)
        stages.append(StageCost(.unmask, up, down, phoneTimes, serverTime))
        switch finished {
        case .send(let result):
            refusals += result.refusals
            return Outcome(result: .success(result), stages: stages, refusals: refusals)
        case .abandon(let e):
            return abandoned(e)
        }
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
    }

    /// Bytes summed over phones, and how many phones.
    struct Accumulator {
        var total = 0
        var phones = 0
        mutating func add(_ bytes: Int) {
            total += bytes
            phones += 1
        }
        var mean: Double { phones == 0 ? 0 : Double(total) / Double(phones) }
    }
}

extension SecureAggregationRound.StageCost {
    init(
        _ stage: SecureAggregationStage, _ up: SecureAggregationRound.Accumulator,
        _ down: SecureAggregationRound.Accumulator, _ phoneTimes: [Double], _ serverMilliseconds: Double
    ) {
        self.init(
            stage: stage, phones: up.phones, bytesUpPerPhone: up.mean, bytesDownPerPhone: down.mean,
            phoneMilliseconds: phoneTimes.isEmpty ? 0 : phoneTimes.reduce(0, +) / Double(phoneTimes.count),
            maxPhoneMilliseconds: phoneTimes.max() ?? 0, serverMilliseconds: serverMilliseconds)
    }
}
