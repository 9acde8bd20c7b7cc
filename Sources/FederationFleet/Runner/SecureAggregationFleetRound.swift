import FederatedCore
import FederationProtocol
import Fleet
import SecureAggregation

/// The fleet's side of a secure-aggregation round: the phones that trained run the SecAgg+
/// phone state machine (``SecureAggregationClient``) through the transport's four stage
/// calls, dropping out between stages as the run's seed draws it, and the fleet measures
/// what each stage cost a phone (bytes from the messages' `wireByteCount`, compute time).
///
/// In the plain comparison (``SecureAggregationSettings/Summation/plain``) the same phones,
/// with the same dropouts, send their codes in the clear instead: the server's integer sum
/// is then the one a masked round unmasks.
struct SecureAggregationFleetRound {
    let transport: any ServerTransport
    let runID: Int64
    let round: Int
    let settings: SecureAggregationSettings
    let runSeed: UInt64
    /// Phones of the masked-input stage computed at once.
    let parallelism: Int
    /// The fleet, whose phones drop out when they stop being eligible between two stages
    /// (nil: only the seeded random failures).
    var population: DevicePopulation? = nil
    /// Virtual time the first stage starts (the round's reporting closes).
    var protocolStart = 0

    /// What the round gave: its report and the phones (indices into the reports) in the sum.
    struct Result {
        var report: SecureAggregationReport
        var contributors: [Int]
    }

    /// The gaps between stages where a phone may drop out.
    enum Gap: UInt64 {
        case afterAdvertiseKeys = 1
        case afterShareKeys = 2
        case afterMaskedInput = 3
    }

    /// Whether `device` drops out in `gap` of `round`: one seeded draw per (device, round,
    /// gap), so a run is reproducible and the masked run and its plain comparison lose the
    /// same phones.
    static func drops(device: Int, round: Int, gap: Gap, probability: Double, seed: UInt64) -> Bool {
        guard probability > 0 else { return false }
        var rng = SplitMix64(
            seed: SplitMix64.derivedSeed(seed, streams: 0x5EC_D809, UInt64(round), UInt64(device), gap.rawValue))
        return rng.nextUnitDouble() < probability
    }

    /// Why a phone leaves the round in a gap between two stages.
    enum Departure {
        /// It stopped being eligible (unplugged, off unmetered Wi-Fi, picked up).
        case unplugged
        /// Its connection failed (the seeded ``SecureAggregationSettings/stageDropout``).
        case failed
    }

    /// Whether and why `device` leaves in `gap`: gap g spans the virtual seconds
    /// (start + (g − 1)·s, start + g·s] after the protocol starts, s the stage seconds.
    private func departure(_ device: Int, _ gap: Gap) -> Departure? {
        if let population {
            let seconds = settings.stageSeconds
            let from = protocolStart + (Int(gap.rawValue) - 1) * seconds
            if !population.isEligible(device, at: from + seconds)
                || population.eligibilityEnd(device, after: from, through: from + seconds) != nil
            {
                return .unplugged
            }
        }
        return Self.drops(device: device, round: round, gap: gap, probability: settings.stageDropout, seed: runSeed)
            ? .failed : nil
    }

    /// Runs the protocol for `reports` (the phones that trained, in arrival order: phone i is
    /// `reports[i]`).
    func run(_ reports: [DeviceReport]) async throws -> Result {
        let setup = try await transport.secureAggregationOpen(
            run: runID, round: round, devices: reports.map { UInt32($0.device) })
        switch settings.summation {
        case .masked: return try await masked(reports, setup: setup)
        case .plain: return try await plain(reports, setup: setup)
        }
    }

    private func plain(_ reports: [DeviceReport], setup: SecureAggregationSetup) async throws -> Result {
        var dropped = 0
        var unplugged = 0
        var inputs: [PlainQuantizedInput] = []
        var up = Tally()
        for (phone, r) in reports.enumerated() {
            if let gone = departure(r.device, .afterAdvertiseKeys) ?? departure(r.device, .afterShareKeys) {
                dropped += 1
                if gone == .unplugged { unplugged += 1 }
                continue
            }
            if setup.ringBits != nil {
                // Distributed DP: the same noisy ring elements a masked phone would mask.
                guard
                    let words = DistributedSkellamPhone.noisyInput(
                        r.bytes, setup: setup, device: r.device, runSeed: runSeed)
                else {
                    dropped += 1
                    continue
                }
                inputs.append(PlainQuantizedInput(phone: phone, codes: [], tokens: r.tokens, ringElements: words))
                up.add((words.count * setup.inputBits + 7) / 8)
                continue
            }
            inputs.append(PlainQuantizedInput(phone: phone, codes: r.bytes, tokens: r.tokens))
            up.add((r.bytes.count * setup.inputBits + 7) / 8)
        }
        let reply = try await transport.secureAggregationPlainInputs(run: runID, round: round, inputs)
        let stage = SecureAggregationReport.Stage(
            stage: "plain-input", phones: up.phones, bytesUpPerPhone: up.mean, bytesDownPerPhone: 0,
            phoneMilliseconds: 0, serverMilliseconds: reply.serverMilliseconds)
        let contributors = reply.answer?.contributors ?? []
        var report = SecureAggregationReport(
            summation: "plain", cohort: reports.count, neighbours: 0, threshold: 0, inputBits: setup.inputBits,
            ringBits: setup.inputBits, stages: [stage], contributors: contributors.count,
            droppedBetweenStages: dropped, recovered: 0, refused: reply.refused, abandoned: reply.abandonment)
        report.unplugged = unplugged
        return Result(report: report, contributors: contributors)
    }

    private func masked(_ reports: [DeviceReport], setup: SecureAggregationSetup) async throws -> Result {
        let k = reports.count
        var stages: [SecureAggregationReport.Stage] = []
        var refused = 0
        var dropped = 0
        var unplugged = 0
        var ringBits = setup.inputBits
        func result(_ abandonment: String?, contributors: [Int] = [], recovered: Int = 0) -> Result {
            var report = SecureAggregationReport(
                summation: "masked", cohort: k, neighbours: setup.neighbours, threshold: setup.threshold,
                inputBits: setup.inputBits, ringBits: ringBits, stages: stages, contributors: contributors.count,
                droppedBetweenStages: dropped, recovered: recovered, refused: refused, abandoned: abandonment)
            report.unplugged = unplugged
            return Result(report: report, contributors: contributors)
        }
        func record<A>(
            _ stage: SecureAggregationStage, _ up: Tally, _ down: Tally, _ times: [Double],
            _ reply: SecureAggregationReply<A>
        ) {
            refused += reply.refused
            stages.append(
                SecureAggregationReport.Stage(
                    stage: stage.reportName, phones: up.phones, bytesUpPerPhone: up.mean, bytesDownPerPhone: down.mean,
                    phoneMilliseconds: times.isEmpty ? 0 : times.reduce(0, +) / Double(times.count),
                    serverMilliseconds: reply.serverMilliseconds))
        }
        // Fewer than two phones: no configuration exists; the server has already abandoned.
        guard k >= 2, let configuration = try? setup.configuration() else {
            let reply = try await transport.secureAggregationAdvertiseKeys(run: runID, round: round, [])
            return result(reply.abandonment ?? "no secure-aggregation configuration for \(k) phones")
        }
        ringBits = configuration.ring.bits
        var clients: [SecureAggregationClient?] = reports.indices.map { phone in
            var rng = SplitMix64(
                seed: SplitMix64.derivedSeed(runSeed, streams: 0x5EC_C11E, UInt64(round), UInt64(reports[phone].device))
            )
            return SecureAggregationClient(phone: phone, configuration: configuration, using: &rng)
        }

        // Stage 0: advertise keys.
        var up = Tally()
        var times: [Double] = []
        var advertised: [AdvertiseKeysMessage] = []
        for phone in 0..<k {
            let start = ContinuousClock.now
            guard let m = try? clients[phone]!.advertiseKeys() else {
                clients[phone] = nil
                continue
            }
            times.append(Self.milliseconds(since: start))
            up.add(m.wireByteCount)
            advertised.append(m)
        }
        let keys = try await transport.secureAggregationAdvertiseKeys(run: runID, round: round, advertised)
        record(.advertiseKeys, up, Tally(), times, keys)
        guard let neighbourKeys = keys.answer else { return result(keys.abandonment) }
        dropOut(.afterAdvertiseKeys, &clients, reports, &dropped, &unplugged)

        // Stage 1: share keys.
        up = Tally()
        var down = Tally()
        times = []
        var sharing: [ShareKeysMessage] = []
        for m in neighbourKeys where clients[m.phone] != nil {
            down.add(m.wireByteCount)
            var rng = SplitMix64(
                seed: SplitMix64.derivedSeed(
                    runSeed, streams: 0x5EC_5A4E, UInt64(round), UInt64(reports[m.phone].device)))
            let start = ContinuousClock.now
            do {
                let output = try clients[m.phone]!.shareKeys(m, using: &rng)
                times.append(Self.milliseconds(since: start))
                refused += output.refusals.count
                up.add(output.message.wireByteCount)
                sharing.append(output.message)
            } catch {
                refused += 1
                clients[m.phone] = nil
            }
        }
        let shares = try await transport.secureAggregationShareKeys(run: runID, round: round, sharing)
        record(.shareKeys, up, down, times, shares)
        guard let forwarded = shares.answer else { return result(shares.abandonment) }
        dropOut(.afterShareKeys, &clients, reports, &dropped, &unplugged)

        // Stage 2: masked inputs, in parallel batches (at most a batch of masked vectors at once).
        up = Tally()
        down = Tally()
        times = []
        let due = forwarded.filter { clients[$0.phone] != nil }
        let batchSize = max(1, 4 * parallelism)
        var requests: [UnmaskRequestMessage]?
        var serverMilliseconds = 0.0
        var index = 0
        repeat {
            let batch = Array(due[index..<min(index + batchSize, due.count)])
            index += batch.count
            let work = batch.map { (clients[$0.phone]!, $0, reports[$0.phone].bytes, reports[$0.phone].device) }
            let seed = runSeed
            let outputs = await withTaskGroup(of: (Int, SecureAggregationClient, MaskedOutput, Double).self) { group in
                for (slot, (client, message, codes, device)) in work.enumerated() {
                    group.addTask {
                        var client = client
                        // Codes, or (distributed DP) the rounded words plus this phone's noise; a
                        // malformed encoding is refused by the client as the wrong length.
                        let input =
                            setup.ringBits == nil
                            ? codes.map(UInt32.init)
                            : DistributedSkellamPhone.noisyInput(codes, setup: setup, device: device, runSeed: seed)
                                ?? []
                        let start = ContinuousClock.now
                        let output = MaskedOutput { () throws(SecureAggregationError) in
                            try client.maskedInput(message, input: input)
                        }
                        return (slot, client, output, Self.milliseconds(since: start))
                    }
                }
                var out: [(Int, SecureAggregationClient, MaskedOutput, Double)] = []
                for await r in group { out.append(r) }
                return out.sorted { $0.0 < $1.0 }
            }
            var messages: [MaskedInputMessage] = []
            var tokens: [Int] = []
            for (slot, client, output, ms) in outputs {
                let phone = client.phone
                down.add(work[slot].1.wireByteCount)
                switch output {
                case .failure:
                    refused += 1
                    clients[phone] = nil
                case .success(let o):
                    clients[phone] = client
                    times.append(ms)
                    refused += o.refusals.count
                    up.add(o.message.wireByteCount)
                    messages.append(o.message)
                    tokens.append(reports[phone].tokens)
                }
            }
            let last = index >= due.count
            let reply = try await transport.secureAggregationMaskedInputs(
                run: runID, round: round, messages, tokens: tokens, closesStage: last)
            refused += reply.refused
            serverMilliseconds += reply.serverMilliseconds
            if let abandonment = reply.abandonment {
                record(
                    .maskedInput, up, down, times,
                    SecureAggregationReply<Void>(answer: nil, serverMilliseconds: serverMilliseconds))
                return result(abandonment)
            }
            if last { requests = reply.answer }
        } while index < due.count
        record(
            .maskedInput, up, down, times,
            SecureAggregationReply<Void>(answer: nil, serverMilliseconds: serverMilliseconds))
        guard let requests else { return result("the masked-input stage did not close") }
        dropOut(.afterMaskedInput, &clients, reports, &dropped, &unplugged)

        // Stage 3: unmask.
        up = Tally()
        down = Tally()
        times = []
        var unmasking: [UnmaskMessage] = []
        for request in requests where clients[request.phone] != nil {
            down.add(request.wireByteCount)
            let start = ContinuousClock.now
            do {
                let output = try clients[request.phone]!.unmask(request)
                times.append(Self.milliseconds(since: start))
                refused += output.refusals.count
                up.add(output.message.wireByteCount)
                unmasking.append(output.message)
            } catch {
                refused += 1
            }
        }
        let finished = try await transport.secureAggregationUnmask(run: runID, round: round, unmasking)
        record(.unmask, up, down, times, finished)
        guard let outcome = finished.answer else { return result(finished.abandonment) }
        return result(nil, contributors: outcome.contributors, recovered: outcome.recovered)
    }

    private typealias MaskedOutput = Swift.Result<
        SecureAggregationClient.Output<MaskedInputMessage>, SecureAggregationError
    >

    /// Phones still in the round that drop out in `gap` stop sending.
    private func dropOut(
        _ gap: Gap, _ clients: inout [SecureAggregationClient?], _ reports: [DeviceReport], _ dropped: inout Int,
        _ unplugged: inout Int
    ) {
        for phone in clients.indices where clients[phone] != nil {
            guard let gone = departure(reports[phone].device, gap) else { continue }
            clients[phone] = nil
            dropped += 1
            if gone == .unplugged { unplugged += 1 }
        }
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
    }

    /// Bytes over the phones that sent (or received) a stage's message.
    struct Tally {
        var total = 0
        var phones = 0
        mutating func add(_ bytes: Int) {
            total += bytes
            phones += 1
        }
        var mean: Double { phones == 0 ? 0 : Double(total) / Double(phones) }
    }
}

extension SecureAggregationStage {
    /// The stage's name in reports.
    var reportName: String {
        switch self {
        case .advertiseKeys: "advertise-keys"
        case .shareKeys: "share-keys"
        case .maskedInput: "masked-input"
        case .unmask: "unmask"
        }
    }
}
