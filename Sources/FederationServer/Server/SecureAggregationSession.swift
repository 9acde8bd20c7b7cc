import FederatedCore
public import FederationProtocol
public import SecureAggregation
import UpdateCodec

/// Secure aggregation's state in one open round on the server: the SecAgg+ server state
/// machine (masked) or the plain comparison's running sum of codes, and what the round's
/// model gets at the end: the integer sum and its contributors, never one phone's input.
final class SecureAggregationSession {
    let setup: SecureAggregationSetup
    let grid: SecureAggregationGrid
    let summation: SecureAggregationSettings.Summation
    /// The SecAgg+ server (masked runs), nil once abandoned or finished.
    var server: SecureAggregationServer?
    /// Each phone's token count, sent in the clear with its masked input.
    var tokens: [Int: Int] = [:]
    /// Why the round was abandoned.
    var abandonment: String?
    /// The sum reached the model.
    var finished = false
    /// The plain comparison's running sum of codes and the phones in it.
    var plainSum: [UInt32] = []
    var plainContributors = Set<Int>()

    init(setup: SecureAggregationSetup, grid: SecureAggregationGrid, summation: SecureAggregationSettings.Summation) {
        self.setup = setup
        self.grid = grid
        self.summation = summation
    }

    /// Runs one call of a stage on the server state machine: `body` takes the messages (counting
    /// refusals and bytes) and may close the stage.
    func step<Answer: Sendable>(
        _ body: (inout SecureAggregationServer, inout Int) -> SecureAggregationServer.Action<Answer>?
    ) -> SecureAggregationReply<Answer> {
        let start = ContinuousClock.now
        if let abandonment { return SecureAggregationReply(answer: nil, abandonment: abandonment) }
        guard var machine = server else {
            return SecureAggregationReply(
                answer: nil, abandonment: "secure aggregation of round \(setup.round) has already finished")
        }
        server = nil  // one owner of the running sum while it changes (no copy)
        var refused = 0
        let action = body(&machine, &refused)
        server = machine
        var reply = SecureAggregationReply<Answer>(answer: nil, refused: refused)
        switch action {
        case nil: break
        case .send(let answer): reply.answer = answer
        case .abandon(let error):
            abandon(error.message)
            reply.abandonment = error.message
        }
        reply.serverMilliseconds = Self.milliseconds(since: start)
        return reply
    }

    /// Adds one phone's codes to the plain comparison's sum.
    ///
    /// - Throws: a refusal naming what is wrong (an unknown or repeated phone, a wrong length,
    ///   a code above the grid, a negative token count, a finished or abandoned round).
    func receivePlain(_ input: PlainQuantizedInput, in open: OpenRound) throws(ServerRejection) {
        let length = setup.vectorLength
        open.bytesUp +=
            setup.ringBits.map { Int64((length * $0 + 7) / 8) } ?? Int64((input.codes.count * grid.bits + 7) / 8)
        if let abandonment {
            throw ServerRejection(.conflictingReplay, "the round was abandoned (\(abandonment)); start a new one")
        }
        guard !finished else {
            throw ServerRejection(.conflictingReplay, "the plain sum of round \(setup.round) is already closed")
        }
        guard (0..<setup.devices.count).contains(input.phone) else {
            throw ServerRejection(
                .unknownDevice, "phone \(input.phone) is not in this round's cohort of \(setup.devices.count)")
        }
        guard !plainContributors.contains(input.phone) else {
            throw ServerRejection(
                .conflictingReplay, "phone \(input.phone) already sent its plain input this round (a replay); refused")
        }
        guard input.tokens >= 0 else { throw ServerRejection(.malformedUpdate, "a negative token count") }
        if let ringBits = setup.ringBits {
            // Distributed DP: ring elements of Z_2^m, summed modulo 2^m as unmasking gives them.
            let outside: UInt32 = ringBits == 32 ? 0 : ~((UInt32(1) << UInt32(ringBits)) - 1)
            guard let words = input.ringElements, words.count == length else {
                throw ServerRejection(
                    .malformedUpdate,
                    "a distributed-DP plain input needs \(length) ring elements (got \(input.ringElements?.count ?? 0))"
                )
            }
            if let bad = words.firstIndex(where: { $0 & outside != 0 }) {
                throw ServerRejection(.malformedUpdate, "ring element \(bad) does not fit in \(ringBits) bits")
            }
            if plainSum.isEmpty { plainSum = [UInt32](repeating: 0, count: length) }
            plainContributors.insert(input.phone)
            tokens[input.phone] = input.tokens
            words.withUnsafeBufferPointer { w in
                plainSum.withUnsafeMutableBufferPointer { s in
                    for i in 0..<length { s[i] &+= w[i] }
                }
            }
            return
        }
        guard input.codes.count == length else {
            throw ServerRejection(
                .malformedUpdate,
                "a plain input of \(input.codes.count) codes; this round's vectors have \(length) coordinates")
        }
        let maximum = UInt8(grid.quantizer.maximumCode)
        if let bad = input.codes.firstIndex(where: { $0 > maximum }) {
            throw ServerRejection(
                .malformedUpdate, "code \(bad) does not fit in \(grid.bits) bits; quantize to the round's grid")
        }
        if plainSum.isEmpty { plainSum = [UInt32](repeating: 0, count: length) }
        plainContributors.insert(input.phone)
        tokens[input.phone] = input.tokens
        input.codes.withUnsafeBufferPointer { codes in
            plainSum.withUnsafeMutableBufferPointer { s in
                for i in 0..<length { s[i] &+= UInt32(codes[i]) }
            }
        }
    }

    /// Closes the plain comparison: the sum goes to the model (or the round is abandoned when
    /// no input reached it).
    func closePlain(in open: OpenRound) -> SecureAggregationReply<SecureAggregationOutcome> {
        if let abandonment { return SecureAggregationReply(answer: nil, abandonment: abandonment) }
        guard !finished else {
            return SecureAggregationReply(
                answer: nil, abandonment: "secure aggregation of round \(setup.round) has already finished")
        }
        guard !plainContributors.isEmpty else {
            abandon("no phone's input reached the sum")
            return SecureAggregationReply(answer: nil, abandonment: abandonment)
        }
        let contributors = plainContributors.sorted()
        var sum = plainSum
        plainSum = []
        if let ringBits = setup.ringBits, ringBits < 32 {
            let mask = (UInt32(1) << UInt32(ringBits)) - 1
            sum.withUnsafeMutableBufferPointer { s in
                for i in s.indices { s[i] &= mask }
            }
        }
        open.finishSecureSum(self, sum: sum, contributors: contributors)
        return SecureAggregationReply(
            answer: abandonment == nil ? SecureAggregationOutcome(contributors: contributors, recovered: 0) : nil,
            abandonment: abandonment)
    }

    func abandon(_ reason: String) {
        abandonment = reason
        server = nil
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
    }
}

extension OpenRound {
    /// The round's session, or a refusal naming what is wrong.
    func requireSecureAggregation(_ summation: SecureAggregationSettings.Summation) throws(ServerRejection)
        -> SecureAggregationSession
    {
        guard let session = secureAggregation else {
            throw ServerRejection(
                .badRequest,
                "secure aggregation of round \(opening.round) is not open; call secureAggregationOpen with the cohort first"
            )
        }
        guard session.summation == summation else {
            throw ServerRejection(
                .badRequest,
                "this run sums \(session.summation.rawValue), not \(summation.rawValue); send the stages its configuration names"
            )
        }
        return session
    }

    /// Hands the finished sum to the round's model and records who is in it.
    func finishSecureSum(_ session: SecureAggregationSession, sum: [UInt32], contributors: [Int]) {
        do {
            if let encoding = session.grid.skellam, let ringBits = session.setup.ringBits {
                try aggregation.receiveSignedSum(
                    sum, contributors: contributors.count, ringBits: ringBits, scale: encoding.scale)
            } else {
                try aggregation.receiveQuantizedSum(sum, contributors: contributors.count, grid: session.grid)
            }
        } catch {
            session.abandon(error.message)
            return
        }
        order = contributors.map { session.setup.devices[$0] }
        tokens = contributors.reduce(0) { $0 + (session.tokens[$1] ?? 0) }
        session.finished = true
        session.server = nil
    }
}

extension AggregationServer {
    /// Starts secure aggregation of `round` over `devices`, the phones that trained, in
    /// phone-index order: k and t for that many phones, the run's grid, the graph's seed.
    public func secureAggregationOpen(run id: Int64, round: Int, devices: [UInt32]) throws(ServerRejection)
        -> SecureAggregationSetup
    {
        let run = try active(id)
        return try run.withLock { () throws(ServerRejection) -> SecureAggregationSetup in
            let open = try run.requireOpen(round: round)
            let c = run.configuration
            guard let settings = c.secureAggregation, let grid = run.secureAggregationGrid else {
                throw ServerRejection(
                    .badRequest, "run \(id) aggregates in the clear; it was created without --secure-aggregation")
            }
            guard open.secureAggregation == nil, open.order.isEmpty else {
                throw ServerRejection(.badRequest, "secure aggregation of round \(round) is already open")
            }
            guard Set(devices).count == devices.count else {
                throw ServerRejection(
                    .badRequest, "the secure-aggregation cohort of round \(round) lists a device twice")
            }
            guard let stranger = devices.first(where: { !open.selected.contains($0) }) else {
                return try open.openSecureAggregation(
                    devices: devices, settings: settings, grid: grid, seed: c.seed, round: round)
            }
            throw ServerRejection(
                .unknownDevice, "device \(stranger) was not selected for round \(round) of run \(id)")
        }
    }

    /// Stage 0 of `round`.
    public func secureAggregationAdvertiseKeys(run id: Int64, round: Int, _ messages: [AdvertiseKeysMessage])
        throws(ServerRejection) -> SecureAggregationReply<[NeighbourKeysMessage]>
    {
        try withSession(id, round, .masked) { open, session in
            session.step { server, refused in
                for m in messages {
                    open.bytesUp += Int64(m.wireByteCount)
                    do { try server.receive(m) } catch { refused += 1 }
                }
                return server.closeAdvertiseKeys()
            }
        }
    }

    /// Stage 1 of `round`.
    public func secureAggregationShareKeys(run id: Int64, round: Int, _ messages: [ShareKeysMessage])
        throws(ServerRejection) -> SecureAggregationReply<[ForwardedSharesMessage]>
    {
        try withSession(id, round, .masked) { open, session in
            session.step { server, refused in
                for m in messages {
                    open.bytesUp += Int64(m.wireByteCount)
                    do { try server.receive(m) } catch { refused += 1 }
                }
                return server.closeShareKeys()
            }
        }
    }

    /// Stage 2 of `round`: masked inputs go straight into the running sum.
    public func secureAggregationMaskedInputs(
        run id: Int64, round: Int, _ messages: [MaskedInputMessage], tokens: [Int], closesStage: Bool
    ) throws(ServerRejection) -> SecureAggregationReply<[UnmaskRequestMessage]> {
        guard tokens.count == messages.count, tokens.allSatisfy({ $0 >= 0 }) else {
            throw ServerRejection(
                .badRequest,
                "\(messages.count) masked inputs came with \(tokens.count) token counts; send one non-negative count per input"
            )
        }
        return try withSession(id, round, .masked) { open, session in
            session.step { server, refused in
                for (m, t) in zip(messages, tokens) {
                    open.bytesUp += Int64(m.wireByteCount)
                    do {
                        try server.receive(m)
                        session.tokens[m.phone] = t
                    } catch { refused += 1 }
                }
                return closesStage ? server.closeMaskedInput() : nil
            }
        }
    }

    /// Stage 3 of `round`: the server rebuilds the masks, unmasks the sum and hands it to the
    /// round's model.
    public func secureAggregationUnmask(run id: Int64, round: Int, _ messages: [UnmaskMessage])
        throws(ServerRejection) -> SecureAggregationReply<SecureAggregationOutcome>
    {
        try withSession(id, round, .masked) { open, session in
            var recovered = 0
            let reply = session.step {
                server, refused -> SecureAggregationServer.Action<SecureAggregationServer.Result>? in
                for m in messages {
                    open.bytesUp += Int64(m.wireByteCount)
                    do { try server.receive(m) } catch { refused += 1 }
                }
                recovered = Set(server.sharers).subtracting(server.contributors).count
                return server.finish()
            }
            var out = SecureAggregationReply<SecureAggregationOutcome>(
                answer: nil, abandonment: reply.abandonment, refused: reply.refused,
                serverMilliseconds: reply.serverMilliseconds)
            if let result = reply.answer {
                let start = ContinuousClock.now
                open.finishSecureSum(session, sum: result.sum, contributors: result.contributors)
                out.serverMilliseconds += SecureAggregationSession.milliseconds(since: start)
                out.refused += result.refusals.count
                if let reason = session.abandonment {
                    out.abandonment = reason
                } else {
                    out.answer = SecureAggregationOutcome(contributors: result.contributors, recovered: recovered)
                }
            }
            return out
        }
    }

    /// The plain comparison of `round`: the same codes summed in the clear, then the sum
    /// handed to the model (inputs refused here count in the reply).
    public func secureAggregationPlainInputs(run id: Int64, round: Int, _ inputs: [PlainQuantizedInput])
        throws(ServerRejection) -> SecureAggregationReply<SecureAggregationOutcome>
    {
        try withSession(id, round, .plain) { open, session in
            let start = ContinuousClock.now
            var refused = 0
            for input in inputs {
                do { try session.receivePlain(input, in: open) } catch { refused += 1 }
            }
            var reply = session.closePlain(in: open)
            reply.refused += refused
            reply.serverMilliseconds = SecureAggregationSession.milliseconds(since: start)
            return reply
        }
    }

    func withSession<T>(
        _ id: Int64, _ round: Int, _ summation: SecureAggregationSettings.Summation,
        _ body: (OpenRound, SecureAggregationSession) throws(ServerRejection) -> T
    ) throws(ServerRejection) -> T {
        let run = try active(id)
        return try run.withLock { () throws(ServerRejection) -> T in
            let open = try run.requireOpen(round: round)
            return try body(open, try open.requireSecureAggregation(summation))
        }
    }
}

extension OpenRound {
    /// Builds the round's session (see ``AggregationServer/secureAggregationOpen(run:round:devices:)``).
    func openSecureAggregation(
        devices: [UInt32], settings: SecureAggregationSettings, grid: SecureAggregationGrid, seed: UInt64, round: Int
    ) throws(ServerRejection) -> SecureAggregationSetup {
        guard let length = aggregation.secureAggregationLength else {
            throw ServerRejection(
                .badRequest, "this run's model kind cannot be aggregated securely (neural models only)")
        }
        let parameters =
            devices.count >= 2
            ? SecureAggregationParameters(
                cohortSize: devices.count, corruptFraction: settings.corruptFraction,
                dropoutFraction: settings.designDropout) : nil
        var setup = SecureAggregationSetup(
            round: round, devices: devices, neighbours: parameters?.neighbours ?? 0,
            threshold: parameters?.threshold ?? 0, meetsTargets: parameters?.meetsTargets ?? false,
            inputBits: grid.bits, vectorLength: length,
            graphSeed: SplitMix64.derivedSeed(seed, streams: 0x5EC_A66, UInt64(round)))
        // Distributed DP: the ring for this round's K and t, and each phone's noise share μ/t.
        var refusal: String?
        if let encoding = grid.skellam {
            if let parameters {
                let design = encoding.design
                let bits = design.ringBits(cohort: devices.count, threshold: parameters.threshold)
                if length != encoding.dimension {
                    refusal =
                        "the model has \(length) parameters, the distributed-DP encoding \(encoding.dimension); the run's configuration and model disagree"
                } else if bits > SkellamRingDesign.maximumRingBits {
                    refusal =
                        "\(devices.count) phones with threshold t = \(parameters.threshold) at γ = \(encoding.scale) need a \(bits)-bit ring (the sum's bound \(devices.count)·⌈γc⌉ plus the noise tail); at most 32 bits is implemented: lower --cohort or --secagg-ring-bits"
                } else {
                    setup.inputBits = bits
                    setup.ringBits = bits
                    setup.phoneNoiseVariance = design.phoneVariance(threshold: parameters.threshold)
                }
            } else {
                refusal =
                    "only \(devices.count) phone trained; distributed DP needs at least 2 phones (and t inputs) to carry its noise"
            }
        }
        let session = SecureAggregationSession(setup: setup, grid: grid, summation: settings.summation)
        if let refusal {
            session.abandon(refusal)
        } else if settings.summation == .masked {
            if parameters == nil {
                session.abandon(
                    "only \(devices.count) phone trained; a secure sum needs at least 2 phones (and t inputs)")
            } else {
                do { session.server = SecureAggregationServer(configuration: try setup.configuration()) } catch {
                    session.abandon(error.message)
                }
            }
        }
        secureAggregation = session
        return setup
    }
}
