import FederatedCore
import Federation
import FederationFleet
import FederationHTTP
import FederationProtocol
import FederationServer
import Foundation
import RunStore
import SecureAggregation
import Testing

@Suite("Secure aggregation over HTTP")
struct SecureAggregationHTTPTests {
    /// ``tinyRunConfiguration()`` under secure aggregation: 8-bit stochastic codes on
    /// [-0.5, 0.5], cohorts of 8, dropouts between stages.
    static func configuration(
        summation: SecureAggregationSettings.Summation = .masked, dropout: Double = 0.1
    ) -> RunConfiguration {
        var c = tinyRunConfiguration()
        c.codec = "clip=0.5,q8s"
        c.cohort = 8
        c.minimumReportFraction = 0.25
        c.federatedEval = false
        c.secureAggregation = SecureAggregationSettings(summation: summation, stageDropout: dropout)
        return c
    }

    private static func withoutTiming(_ summary: RoundSummary) -> RoundSummary {
        var summary = summary
        summary.serverSeconds = 0
        summary.evaluationSeconds = 0
        if var report = summary.secureAggregation {
            for i in report.stages.indices {
                report.stages[i].phoneMilliseconds = 0
                report.stages[i].serverMilliseconds = 0
            }
            summary.secureAggregation = report
        }
        return summary
    }

    private func overHTTP(_ c: RunConfiguration, dataset: FederatedDataset) async throws -> FederatedRunner.Outcome {
        let server = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        return try await withLiveServer(server) { url in
            let runner = FederatedRunner(
                transport: try HTTPTransport(baseURL: url.absoluteString, token: testOperatorToken), dataset: dataset,
                workers: 2)
            return try await runner.run(configuration: c)
        }
    }

    @Test("A masked run over HTTP commits the same rounds and model as in process, and as the plain sum over HTTP")
    func httpMatchesInProcess() async throws {
        let c = Self.configuration()
        let dataset = try FederatedDataset(configuration: c)
        let local = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        let expected = try await FederatedRunner(
            transport: InProcessTransport(server: local), dataset: dataset, workers: 2
        ).run(configuration: c)
        let remote = try await overHTTP(c, dataset: dataset)
        let plain = try await overHTTP(Self.configuration(summation: .plain), dataset: dataset)

        #expect(remote.finished && expected.finished && plain.finished)
        #expect(
            remote.rounds.map { Self.withoutTiming($0.summary) }
                == expected.rounds.map { Self.withoutTiming($0.summary) })
        let reports = remote.rounds.compactMap(\.summary.secureAggregation)
        #expect(reports.count == c.rounds)
        // The masked rounds equal the plain sum of the same codes until the first round the
        // masked protocol abandons (fewer than t inputs: the plain comparison has no threshold
        // and sums them anyway); that round leaves the model as it was.
        let summed = reports.prefix { $0.abandoned == nil }.count
        #expect(summed >= 2)
        #expect(
            remote.rounds.prefix(summed).map(\.summary.modelSHA256)
                == plain.rounds.prefix(summed).map(\.summary.modelSHA256))
        if summed < reports.count {
            #expect(reports[summed].abandoned?.contains("t =") == true)
            #expect(remote.rounds[summed].summary.abandoned)
            #expect(remote.rounds[summed].summary.modelSHA256 == remote.rounds[summed - 1].summary.modelSHA256)
        }
        // Not vacuous: the summed rounds moved the model and the recovery path ran.
        #expect(Set(remote.rounds.prefix(summed).map(\.summary.modelSHA256)).count == summed)
        #expect(reports.contains { $0.droppedBetweenStages > 0 })
        #expect(reports.contains { $0.recovered > 0 })
        #expect(reports.allSatisfy { $0.refused == 0 })
    }

    @Test(
        "Distributed DP over HTTP: the masked run equals the in-process one and the plain sum of the same noisy integers"
    )
    func distributedPrivacyOverHTTP() async throws {
        func privateRun(_ summation: SecureAggregationSettings.Summation) -> RunConfiguration {
            var c = Self.configuration(summation: summation, dropout: 0.05)
            c.privacy = PrivacyConfiguration(noiseMultiplier: 1, clipNorm: 0.5)
            c.privacy?.mechanism = .skellam
            return c
        }
        let c = privateRun(.masked)
        try c.validate()
        let dataset = try FederatedDataset(configuration: c)
        let local = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        let expected = try await FederatedRunner(
            transport: InProcessTransport(server: local), dataset: dataset, workers: 2
        ).run(configuration: c)
        let remote = try await overHTTP(c, dataset: dataset)
        let plain = try await overHTTP(privateRun(.plain), dataset: dataset)
        #expect(remote.rounds.map(\.summary.modelSHA256) == expected.rounds.map(\.summary.modelSHA256))
        #expect(remote.rounds.map(\.summary.privacy) == expected.rounds.map(\.summary.privacy))
        #expect(remote.rounds.contains { $0.summary.privacy != nil && !$0.summary.abandoned })
        let summed = remote.rounds.prefix { !$0.summary.abandoned }.count
        #expect(summed >= 1)
        #expect(
            remote.rounds.prefix(summed).map(\.summary.modelSHA256)
                == plain.rounds.prefix(summed).map(\.summary.modelSHA256))
    }

    @Test("Bad stage messages over HTTP are refused one by one with a status and reason; the round still sums")
    func badMessagesAreRefused() async throws {
        let c = Self.configuration()
        let dataset = try FederatedDataset(configuration: c)
        let server = AggregationServer(store: try RunStore.inMemory(), loadDataset: { _ in dataset })
        try await withLiveServer(server) { base in
            try await Self.hostileRound(at: base, configuration: c)
        }
    }

    /// One round driven by hand: 6 phones, each a ``SecureAggregationClient``; bad messages
    /// are sent in every stage beside the honest ones.
    static func hostileRound(at base: URL, configuration c: RunConfiguration) async throws {
        let transport = try HTTPTransport(baseURL: base.absoluteString, token: testOperatorToken)
        let attachment = try await transport.createRun(c)
        let run = attachment.runID
        let devices: [UInt32] = [3, 5, 8, 13, 21, 34]
        try await transport.openRound(
            run: run,
            RoundOpening(
                round: 1, selected: devices, virtualStart: attachment.virtualTime,
                deadline: attachment.virtualTime + c.reportingDeadline))
        let setup = try await transport.secureAggregationOpen(run: run, round: 1, devices: devices)
        #expect(setup.devices == devices)
        let configuration = try setup.configuration()
        var rng = SplitMix64(seed: 7)
        var clients = devices.indices.map {
            SecureAggregationClient(phone: $0, configuration: configuration, using: &rng)
        }
        let path = { (stage: String, device: UInt32) in "v1/runs/\(run)/rounds/1/secagg/\(stage)/\(device)" }
        func credential(_ phone: Int) -> String {
            transport.deviceCredential(run: run, round: 1, device: Int(devices[phone])) ?? "none"
        }
        func put(_ message: SecureAggregationInbound, as device: UInt32, credential: String?) async throws
            -> RawExchange
        {
            try await RawExchange.send(
                "PUT", path(message.route.rawValue, device), to: base,
                body: Data(SecureAggregationWire.encode(message)),
                credential: credential, headers: ["Content-Type": SecureAggregationWire.contentType])
        }
        func expectRefusal(
            _ exchange: RawExchange, _ status: Int, _ reason: ServerRejection.Reason, mentioning words: String,
            sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            #expect(exchange.status == status, sourceLocation: sourceLocation)
            let rejection = try exchange.rejection()
            #expect(rejection.reason == reason, sourceLocation: sourceLocation)
            #expect(rejection.message.contains(words), "\(rejection.message)", sourceLocation: sourceLocation)
        }

        // Stage 0. Phone 0 advertises with a forged credential, then with phone 1's.
        let keys0 = try clients[0].advertiseKeys()
        try expectRefusal(
            try await put(.advertiseKeys(keys0), as: devices[0], credential: "forged-credential"), 401,
            .unauthenticated, mentioning: "credential")
        try expectRefusal(
            try await put(.advertiseKeys(keys0), as: devices[0], credential: credential(1)), 403,
            .forbiddenCredential, mentioning: "device")
        // Phone 1's genuine credential on its own path, but a message for phone 0: cross-device.
        try expectRefusal(
            try await put(.advertiseKeys(keys0), as: devices[1], credential: credential(1)), 403,
            .forbiddenCredential, mentioning: "each phone sends its own messages")
        // A message of another round (a replay from an earlier one).
        var stale = keys0
        stale.round = 0
        try expectRefusal(
            try await put(.advertiseKeys(stale), as: devices[0], credential: credential(0)), 409, .wrongRound,
            mentioning: "wrongRound")
        // A truncated body.
        let truncated = try await RawExchange.send(
            "PUT", path("advertise-keys", devices[0]), to: base,
            body: Data(SecureAggregationWire.encode(.advertiseKeys(keys0)).dropLast(5)), credential: credential(0))
        try expectRefusal(truncated, 400, .malformedUpdate, mentioning: "ends early")
        // A stage the path does not name.
        let unknownStage = try await RawExchange.send(
            "PUT", path("reveal-everything", devices[0]), to: base, body: Data([1, 2, 3]), credential: credential(0))
        try expectRefusal(unknownStage, 400, .badRequest, mentioning: "not a secure-aggregation stage")

        // The honest advertisements, then phone 0 advertises again (a second key).
        var keyMessages = [keys0]
        for phone in 1..<devices.count { keyMessages.append(try clients[phone].advertiseKeys()) }
        for (phone, m) in keyMessages.enumerated() {
            #expect(try await put(.advertiseKeys(m), as: devices[phone], credential: credential(phone)).status == 204)
        }
        try expectRefusal(
            try await put(.advertiseKeys(keys0), as: devices[0], credential: credential(0)), 409, .conflictingReplay,
            mentioning: "duplicateKey")
        // A share-keys message before its stage opened.
        let early = ShareKeysMessage(round: 1, phone: 2, selfMaskCommitment: Array(repeating: 0, count: 32), shares: [])
        try expectRefusal(
            try await put(.shareKeys(early), as: devices[2], credential: credential(2)), 409, .conflictingReplay,
            mentioning: "outOfOrder")
        let neighbourKeys = try await transport.secureAggregationAdvertiseKeys(run: run, round: 1, [])
        let keyAnswers = try #require(neighbourKeys.answer)
        #expect(keyAnswers.count == devices.count)

        // Stage 1: every phone shares; phone 1 also sends its message twice.
        var shareMessages: [ShareKeysMessage] = []
        for answer in keyAnswers {
            var shareRNG = SplitMix64(seed: 100 + UInt64(answer.phone))
            shareMessages.append(try clients[answer.phone].shareKeys(answer, using: &shareRNG).message)
        }
        for m in shareMessages {
            #expect(try await put(.shareKeys(m), as: devices[m.phone], credential: credential(m.phone)).status == 204)
        }
        try expectRefusal(
            try await put(.shareKeys(shareMessages[1]), as: devices[1], credential: credential(1)), 409,
            .conflictingReplay, mentioning: "replayed")
        let forwarded = try #require(try await transport.secureAggregationShareKeys(run: run, round: 1, []).answer)

        // Stage 2: phones 0…4 send masked inputs; phone 5 drops (its masks are recovered).
        let length = configuration.vectorLength
        let inputs: [[UInt32]] = (0..<devices.count).map { (phone: Int) -> [UInt32] in
            (0..<length).map { (i: Int) -> UInt32 in UInt32((i * 31 + phone * 7) % 256) }
        }
        var masked: [MaskedInputMessage] = []
        for message in forwarded where message.phone < 5 {
            masked.append(try clients[message.phone].maskedInput(message, input: inputs[message.phone]).message)
        }
        // A masked input of the wrong length.
        var short = masked[0]
        short.count -= 1
        short.packed.removeLast(4)
        try expectRefusal(
            try await put(.maskedInput(short, tokens: 10), as: devices[0], credential: credential(0)), 400,
            .malformedUpdate, mentioning: "wrongLength")
        for m in masked {
            #expect(
                try await put(.maskedInput(m, tokens: 10), as: devices[m.phone], credential: credential(m.phone))
                    .status == 204)
        }
        try expectRefusal(
            try await put(.maskedInput(masked[2], tokens: 10), as: devices[2], credential: credential(2)), 409,
            .conflictingReplay, mentioning: "replayed")
        let requests = try #require(
            try await transport.secureAggregationMaskedInputs(run: run, round: 1, [], tokens: [], closesStage: true)
                .answer)
        #expect(requests.map(\.phone).sorted() == [0, 1, 2, 3, 4])

        // Phone 5 never sent a masked input: its unmask message skips a stage.
        let skipping = UnmaskMessage(round: 1, phone: 5, selfMaskShares: [], maskKeyShares: [])
        try expectRefusal(
            try await put(.unmask(skipping), as: devices[5], credential: credential(5)), 409, .conflictingReplay,
            mentioning: "skippedStage")

        // Stage 3: every survivor reveals; phone 0 first sends a duplicated share.
        var unmasks: [UnmaskMessage] = []
        for request in requests { unmasks.append(try clients[request.phone].unmask(request).message) }
        var duplicated = unmasks[0]
        duplicated.selfMaskShares.append(duplicated.selfMaskShares[0])
        try expectRefusal(
            try await put(.unmask(duplicated), as: devices[0], credential: credential(0)), 409, .conflictingReplay,
            mentioning: "duplicateShare")
        for m in unmasks {
            #expect(try await put(.unmask(m), as: devices[m.phone], credential: credential(m.phone)).status == 204)
        }
        let outcome = try await transport.secureAggregationUnmask(run: run, round: 1, [])
        let result = try #require(outcome.answer, "\(outcome.abandonment ?? "")")
        #expect(result.contributors == [0, 1, 2, 3, 4])
        #expect(result.recovered == 1)

        // The round commits with the honest phones' sum, and the server is still up.
        let summary = try await transport.closeRound(
            run: run,
            RoundClosing(
                round: 1, virtualStart: attachment.virtualTime, virtualEnd: attachment.virtualTime + 600,
                selected: devices.count, dropped: 1, stragglers: 0, surplus: 0, bytesDown: 0, wallSeconds: 0,
                trainSeconds: 0))
        #expect(!summary.abandoned)
        #expect(summary.reported == 5)
        #expect(try await transport.status().runs.contains { $0.runID == run })
    }
}
