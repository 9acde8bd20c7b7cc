import FederatedCore
import Fleet
import KeyboardCorpus
import Testing

func smallPopulation(
    devices: Int = 20_000, seed: UInt64 = 1, _ edit: (inout PopulationConfiguration) -> Void = { _ in }
) throws -> DevicePopulation {
    var c = PopulationConfiguration()
    c.devices = devices
    c.seed = seed
    edit(&c)
    return try DevicePopulation(c)
}

struct PopulationTests {
    @Test("a device costs at most 64 bytes")
    func compact() throws {
        #expect(DevicePopulation.bytesPerDevice <= 64)
        let p = try smallPopulation(devices: 1000)
        #expect(p.storageBytes == 1000 * DevicePopulation.bytesPerDevice)
        #expect(p.count == 1000)
    }

    @Test("eligibility peaks in local night hours")
    func nightPeak() throws {
        let p = try smallPopulation()
        var eligible = [Int](repeating: 0, count: 24)
        var total = [Int](repeating: 0, count: 24)
        // Every 20 minutes over two days, a quarter of the devices each time.
        for step in 0..<(2 * 72) {
            let time = 86_400 + step * 1200
            for i in stride(from: step % 4, to: p.count, by: 4) {
                let hour = p.localHour(i, at: time)
                total[hour] += 1
                if p.isEligible(i, at: time) { eligible[hour] += 1 }
            }
        }
        let fraction = (0..<24).map { Double(eligible[$0]) / Double(total[$0]) }
        let peak = fraction.indices.max { fraction[$0] < fraction[$1] }!
        #expect([22, 23, 0, 1, 2, 3, 4, 5, 6].contains(peak), "peak at local hour \(peak): \(fraction)")
        let night = (1...5).map { fraction[$0] }.reduce(0, +) / 5
        let afternoon = (12...16).map { fraction[$0] }.reduce(0, +) / 5
        #expect(night > 0.3, "night \(night)")
        #expect(night > 10 * afternoon, "night \(night) vs afternoon \(afternoon)")
    }

    @Test("everything is deterministic for a seed")
    func determinism() async throws {
        let a = try smallPopulation(devices: 5000)
        let b = try smallPopulation(devices: 5000)
        let c = try smallPopulation(devices: 5000, seed: 2)
        #expect(a.habits == b.habits && a.timeZone == b.timeZone && a.computeTier == b.computeTier)
        #expect(a.dailyMessages == b.dailyMessages && a.uplinkTier == b.uplinkTier && a.downlinkTier == b.downlinkTier)
        #expect(a.habits != c.habits)
        for t in stride(from: 0, to: 86_400, by: 3_607) {
            #expect((0..<5000).allSatisfy { a.isEligible($0, at: t) == b.isEligible($0, at: t) })
        }
        var round = RoundConfiguration()
        round.cohort = 50
        var s1 = try RoundSimulator(population: a, configuration: round, start: 3600)
        var s2 = try RoundSimulator(population: b, configuration: round, start: 3600)
        for _ in 0..<20 { #expect(s1.runRound() == s2.runRound()) }
        let r1 = try await FleetTimeline.simulate(population: a, rounds: round, days: 1)
        let r2 = try await FleetTimeline.simulate(population: b, rounds: round, days: 1)
        #expect(r1 == r2)
        #expect(try await FleetTimeline.simulate(population: a, rounds: round, days: 1, shards: 3) == r1)
        #expect(r1.csv() == r2.csv() && r1.svg() == r2.svg())
    }

    @Test("a device's training text is its user's last D local days, deterministic")
    func trainingText() throws {
        let p = try smallPopulation(devices: 100) { $0.trainingDays = 3 }
        let corpus = try SyntheticCorpus(spec: .english)
        let time = 10 * 86_400 + 5 * 3600
        let text = p.trainingMessages(of: 7, at: time, corpus: corpus)
        let day = p.localDay(7, at: time)
        #expect(text == (day - 3..<day).flatMap { corpus.messages(user: Int(p.textUser[7]), day: $0) })
        #expect(!text.isEmpty)
    }

    @Test(
        "bad population configurations are rejected",
        arguments: [
            { (c: inout PopulationConfiguration) in c.devices = 0 },
            { (c: inout PopulationConfiguration) in c.devices = -5 },
            { (c: inout PopulationConfiguration) in c.skipNightProbability = 1.5 },
            { (c: inout PopulationConfiguration) in c.timeZones = [] },
            { (c: inout PopulationConfiguration) in c.computeTiers = [WeightedChoice(0, 1)] },
            { (c: inout PopulationConfiguration) in c.trainingDays = 0 },
            { (c: inout PopulationConfiguration) in c.chargeStartMean = 1500 },
        ] as [@Sendable (inout PopulationConfiguration) -> Void]
    )
    func badPopulation(edit: @Sendable (inout PopulationConfiguration) -> Void) throws {
        let error = try #require(throws: FleetError.self) { try smallPopulation(devices: 10, edit) }
        #expect(error.code == .invalidConfiguration)
    }
}

struct SelectionTests {
    @Test("cohorts are distinct, eligible, and as large as asked when possible")
    func distinctEligible() throws {
        let p = try smallPopulation()
        var rng = SplitMix64(seed: 5)
        for hour in stride(from: 0, to: 48, by: 5) {
            let t = hour * 3600
            let (devices, _, _) = p.sampleEligible(size: 1000, at: t, using: &rng)
            #expect(Set(devices).count == devices.count)
            #expect(devices.allSatisfy { p.isEligible(Int($0), at: t) })
            #expect(devices.count == min(1000, p.eligibleCount(at: t)))
        }
    }

    @Test("rare eligibility falls back to a full scan and still returns every eligible device")
    func rare() throws {
        let p = try smallPopulation(devices: 5000) { $0.homeWiFiFraction = 0.01 }
        let t = 20 * 3600
        let eligible = p.eligibleCount(at: t)
        var rng = SplitMix64(seed: 9)
        let (devices, probes, _) = p.sampleEligible(size: eligible + 10, at: t, using: &rng)
        #expect(devices.count == eligible)
        #expect(Set(devices).count == eligible)
        #expect(probes > p.count)
    }

    @Test("no device is selected twice in a round, and every selected device has exactly one fate")
    func noDuplicates() throws {
        let p = try smallPopulation()
        var round = RoundConfiguration()
        round.cohort = 400
        var sim = try RoundSimulator(population: p, configuration: round)
        for _ in 0..<60 {
            let o = sim.runRound()
            let fates = o.reported + o.dropped + o.stragglers + o.surplus
            #expect(Set(o.selected).count == o.selected.count)
            #expect(Set(fates).count == fates.count)
            #expect(Set(fates) == Set(o.selected))
            #expect(o.reported.count <= round.cohort)
            #expect(o.abandoned == (o.reported.count < round.minimumReports))
            #expect(o.endTime > o.startTime && o.closeTime <= o.startTime + round.reportingDeadline)
            #expect(sim.time == o.endTime)
        }
    }

    @Test("bad round configurations are rejected")
    func badRounds() async throws {
        let p = try smallPopulation(devices: 100)
        var c = RoundConfiguration()
        c.cohort = 100
        // 130 > 100
        let tooLarge = try #require(throws: FleetError.self) { try RoundSimulator(population: p, configuration: c) }
        #expect(tooLarge.code == .cohortTooLarge)
        c.cohort = 0
        #expect(throws: FleetError.self) { try RoundSimulator(population: p, configuration: c) }
        c.cohort = 10
        c.overSelection = 0.5
        #expect(throws: FleetError.self) { try RoundSimulator(population: p, configuration: c) }
        c.overSelection = 1.3
        c.minimumReportFraction = -1
        #expect(throws: FleetError.self) { try RoundSimulator(population: p, configuration: c) }
        c.minimumReportFraction = 0.8
        await #expect(throws: FleetError.self) { try await FleetTimeline.simulate(population: p, rounds: c, days: 0) }
    }
}

struct RoundRateTests {
    /// The dropout and straggler rates the configuration implies at `time`, computed
    /// independently of the simulator: every device eligible at `time` (full scan), its work
    /// from the tier tables with its own Monte Carlo network jitter (a different stream), and
    /// its fate from minute-by-minute eligibility.
    func impliedRates(_ p: DevicePopulation, _ c: RoundConfiguration, at time: Int, rng: inout SplitMix64) -> (
        drop: Double, straggle: Double, n: Int
    ) {
        var drops = 0
        var straggles = 0
        var n = 0
        let cfg = p.configuration
        for i in 0..<p.count where p.isEligible(i, at: time) {
            n += 1
            let down = cfg.downlinkTiers[Int(p.downlinkTier[i])].value * 1e6 / 8
            let up = cfg.uplinkTiers[Int(p.uplinkTier[i])].value * 1e6 / 8
            let jd = 1 + c.networkJitter * (2 * rng.nextUnitDouble() - 1)
            let ju = 1 + c.networkJitter * (2 * rng.nextUnitDouble() - 1)
            let tokens = Double(p.dailyMessages[i]) * Double(cfg.trainingDays) * cfg.tokensPerMessage
            let work =
                Double(c.modelBytes) / (down * jd) + c.epochs * tokens * cfg.computeTiers[Int(p.computeTier[i])].value
                + Double(c.updateBytes) / (up * ju)
            let finish = Double(time) + work
            let deadline = time + c.reportingDeadline
            var dropped = false
            var b = (time / 60 + 1) * 60
            while Double(b) <= finish, b <= deadline {
                if !p.isEligible(i, at: b) {
                    dropped = true
                    break
                }
                b += 60
            }
            if dropped { drops += 1 } else if finish > Double(deadline) { straggles += 1 }
        }
        return (Double(drops) / Double(max(n, 1)), Double(straggles) / Double(max(n, 1)), n)
    }

    @Test("measured dropout and straggler rates match the configuration's implied rates within sampling error")
    func rates() throws {
        let p = try smallPopulation(devices: 30_000)
        var c = RoundConfiguration()
        c.cohort = 150
        var sim = try RoundSimulator(population: p, configuration: c)
        var rng = SplitMix64(seed: 12_345)
        var measuredDrops = 0.0
        var measuredStraggles = 0.0
        var expectedDrops = 0.0
        var expectedStraggles = 0.0
        var variance = 0.0
        var stragglerVariance = 0.0
        var selected = 0
        for hour in stride(from: 24, to: 48, by: 2) {
            let time = hour * 3600 + 420
            let implied = impliedRates(p, c, at: time, rng: &rng)
            for _ in 0..<8 {
                let o = sim.runRound(at: time)
                let k = Double(o.selected.count)
                selected += o.selected.count
                measuredDrops += Double(o.dropped.count)
                measuredStraggles += Double(o.stragglers.count)
                expectedDrops += k * implied.drop
                expectedStraggles += k * implied.straggle
                // Binomial variance of the cohort plus the Monte Carlo error of the implied rate.
                variance += k * implied.drop * (1 - implied.drop) * (1 + k / Double(implied.n))
                stragglerVariance += k * implied.straggle * (1 - implied.straggle) * (1 + k / Double(implied.n))
            }
        }
        print(
            "dropout measured \(measuredDrops / Double(selected)) implied \(expectedDrops / Double(selected)); stragglers measured \(measuredStraggles / Double(selected)) implied \(expectedStraggles / Double(selected)); \(selected) selected"
        )
        #expect(selected > 10_000)
        #expect(
            expectedDrops / Double(selected) > 0.003,
            "dropout rate too small to test: \(expectedDrops / Double(selected))")
        #expect(
            expectedStraggles / Double(selected) > 0.003,
            "straggler rate too small to test: \(expectedStraggles / Double(selected))")
        #expect(
            abs(measuredDrops - expectedDrops) <= 4 * variance.squareRoot(),
            "dropped \(measuredDrops) vs implied \(expectedDrops) ± \(variance.squareRoot())")
        #expect(
            abs(measuredStraggles - expectedStraggles) <= 4 * stragglerVariance.squareRoot(),
            "stragglers \(measuredStraggles) vs implied \(expectedStraggles) ± \(stragglerVariance.squareRoot())")
    }

    @Test("a round below the minimum report fraction is abandoned and time still advances")
    func abandoned() throws {
        let p = try smallPopulation(devices: 5000)
        var c = RoundConfiguration()
        c.cohort = 100
        c.reportingDeadline = 3  // far too short for anyone to download, train and upload
        var sim = try RoundSimulator(population: p, configuration: c, start: 86_400)
        let o = sim.runRound()
        #expect(o.abandoned)
        #expect(o.reported.isEmpty)
        #expect(o.closeTime == o.startTime + 3)
        #expect(sim.time == o.closeTime + c.serverGap)
    }
}

struct ReportTests {
    @Test("the report renders as CSV, JSON and a self-contained SVG with axes, units and legend")
    func rendering() async throws {
        let p = try smallPopulation(devices: 3000)
        var c = RoundConfiguration()
        c.cohort = 50
        var hours = 0
        let report = try await FleetTimeline.simulate(population: p, rounds: c, days: 2) { _ in hours += 1 }
        #expect(hours == 48)
        let csv = report.csv().split(separator: "\n")
        #expect(csv.count == 49)
        #expect(csv[0] == Substring(FleetReport.csvHeader))
        #expect(csv[1].split(separator: ",").count == FleetReport.csvHeader.split(separator: ",").count)
        let svg = report.svg()
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        for text in ["hour of day (h)", "% of population", "device's local hour", "UTC hour", "</svg>"] {
            #expect(svg.contains(text))
        }
        let json = report.json()
        #expect(json.contains("\"eligibleFractionByLocalHour\": ["))
        #expect(json.filter { $0 == "{" }.count == 49)
        #expect(report.total(\.rounds) == report.hours.reduce(0) { $0 + $1.rounds })
        #expect(report.eligibleFractionByLocalHour.count == 24 && report.eligibleFractionByUTCHour.count == 24)
    }
}

struct SimulatedRoundTests {
    @Test("a round closes at the K-th report and discards later ones")
    func closesAtK() {
        var round = SimulatedRound(cohort: 3, minimumReports: 2, deadline: 100)
        #expect(round.reportArrived(at: 10) == .accept)
        #expect(round.reportArrived(at: 20) == .accept)
        #expect(round.reportArrived(at: 30.5) == .acceptAndClose(at: 31))
        #expect(round.state == .closed(at: 31, reports: 3))
        #expect(round.reportArrived(at: 40) == .discard)
        #expect(round.deadlinePassed() == SimulatedRound.Action.none)
    }

    @Test("at the deadline a round closes with enough reports, or is abandoned")
    func deadline() {
        var enough = SimulatedRound(cohort: 3, minimumReports: 2, deadline: 100)
        _ = enough.reportArrived(at: 1)
        _ = enough.reportArrived(at: 2)
        #expect(enough.deadlinePassed() == .close(at: 100))
        var few = SimulatedRound(cohort: 3, minimumReports: 2, deadline: 100)
        _ = few.reportArrived(at: 1)
        #expect(few.deadlinePassed() == .abandon(at: 100))
        #expect(few.state == .abandoned(at: 100, reports: 1))
    }
}

struct TrainingCostTests {
    @Test("the caller's token counts and update sizes drive the work time")
    func overrides() throws {
        let p = try smallPopulation(devices: 2000)
        var c = RoundConfiguration()
        c.cohort = 20
        let sim = try RoundSimulator(population: p, configuration: c)
        let base = sim.workSeconds(device: 5, round: 0)
        let more = sim.workSeconds(device: 5, round: 0, tokens: p.trainingTokens(5) + 1000)
        #expect(abs(more - base - 1000 * p.secondsPerToken(5)) < 1e-9)
        #expect(sim.workSeconds(device: 5, round: 0, updateBytes: 0, modelBytes: 0) < base)
        var slow = sim
        let o = slow.runRound(at: 86_400, trainingTokens: { _ in 1e9 })
        #expect(o.reported.isEmpty && o.abandoned)
        #expect(o.stragglers.count + o.dropped.count == o.selected.count)
    }
}
