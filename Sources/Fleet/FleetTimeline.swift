/// One hour of a fleet simulation.
public struct HourlyFleetStatistics: Sendable, Equatable {
    /// Hours since the epoch (UTC).
    public var hour: Int
    /// Devices eligible at the start of the hour.
    public var eligible: Int
    /// Devices that checked in during the hour: each device checks in once an hour, at its
    /// own minute, if it is eligible then.
    public var checkIns: Int
    /// Rounds started in the hour.
    public var rounds: Int
    /// Devices selected in those rounds.
    public var selected: Int
    /// Reports used.
    public var reported: Int
    /// Devices that dropped out.
    public var dropped: Int
    /// Devices that missed the deadline.
    public var stragglers: Int
    /// Reports discarded because `K` had already arrived.
    public var surplus: Int
    /// Rounds abandoned below the minimum report fraction.
    public var abandonedRounds: Int

    /// An empty hour.
    public init(hour: Int) {
        self.hour = hour
        eligible = 0
        checkIns = 0
        rounds = 0
        selected = 0
        reported = 0
        dropped = 0
        stragglers = 0
        surplus = 0
        abandonedRounds = 0
    }
}

/// The result of ``FleetTimeline/simulate(population:rounds:days:shards:progress:)``.
public struct FleetReport: Sendable, Equatable {
    /// One row per simulated hour.
    public var hours: [HourlyFleetStatistics]
    /// Fraction of devices eligible, by the device's local hour of day (0...23), over all
    /// hourly scans.
    public var eligibleFractionByLocalHour: [Double]
    /// Fraction of devices eligible by UTC hour of day (0...23), averaged over days.
    public var eligibleFractionByUTCHour: [Double]
    /// Devices in the population.
    public var devices: Int

    /// Sum of a column over all hours.
    public func total(_ column: KeyPath<HourlyFleetStatistics, Int>) -> Int {
        hours.reduce(0) { $0 + $1[keyPath: column] }
    }
}

/// Runs rounds back to back for a number of days and gathers hourly statistics.
public enum FleetTimeline {
    /// Simulates `days` days from the epoch: rounds run back to back (each starts when the
    /// previous one ends), and every hour the whole population is scanned for eligibility
    /// and check-ins.
    ///
    /// - Parameters:
    ///   - shards: the hourly scan fans out over this many tasks (results do not depend on it).
    ///   - progress: called after each simulated hour.
    /// - Complexity: O(days · 24 · devices) eligibility checks for the scans, plus the rounds.
    public static func simulate(
        population: DevicePopulation, rounds configuration: RoundConfiguration, days: Int, shards: Int = 2,
        progress: ((HourlyFleetStatistics) -> Void)? = nil
    ) async throws -> FleetReport {
        guard days >= 1 else { throw FleetError(.invalidConfiguration, "days must be at least 1 (got \(days))") }
        guard shards >= 1 else { throw FleetError(.invalidConfiguration, "shards must be at least 1 (got \(shards))") }
        var simulator = try RoundSimulator(population: population, configuration: configuration)
        let n = population.count
        var phase = [UInt16](repeating: 0, count: n)
        for i in 0..<n { phase[i] = UInt16(population.hash(i, 0, 6) % 3600) }
        let checkInPhase = phase
        var eligibleByLocal = [Int](repeating: 0, count: 24)
        var devicesByLocal = [Int](repeating: 0, count: 24)
        var eligibleByUTC = [Int](repeating: 0, count: 24)
        var hours: [HourlyFleetStatistics] = []
        let bounds = (0...shards).map { $0 * n / shards }
        for hour in 0..<(days * 24) {
            var row = HourlyFleetStatistics(hour: hour)
            // The scan fans out over fixed shards; partial counts merge in shard order.
            let partials = await withTaskGroup(of: (Int, HourScan).self) { group in
                for s in 0..<shards {
                    group.addTask {
                        (s, HourScan(population, hour: hour, devices: bounds[s]..<bounds[s + 1], phase: checkInPhase))
                    }
                }
                var results = [HourScan?](repeating: nil, count: shards)
                for await (s, scan) in group { results[s] = scan }
                return results.map { $0! }
            }
            for scan in partials {
                row.eligible += scan.eligible
                row.checkIns += scan.checkIns
                for h in 0..<24 {
                    eligibleByLocal[h] += scan.eligibleByLocal[h]
                    devicesByLocal[h] += scan.devicesByLocal[h]
                }
            }
            let start = hour * 3600
            eligibleByUTC[hour % 24] += row.eligible
            while simulator.time < start + 3600 {
                let outcome = simulator.runRound()
                row.rounds += 1
                row.selected += outcome.selected.count
                row.reported += outcome.reported.count
                row.dropped += outcome.dropped.count
                row.stragglers += outcome.stragglers.count
                row.surplus += outcome.surplus.count
                if outcome.abandoned { row.abandonedRounds += 1 }
            }
            hours.append(row)
            progress?(row)
        }
        return FleetReport(
            hours: hours,
            eligibleFractionByLocalHour: (0..<24).map {
                devicesByLocal[$0] > 0 ? Double(eligibleByLocal[$0]) / Double(devicesByLocal[$0]) : 0
            },
            eligibleFractionByUTCHour: (0..<24).map { Double(eligibleByUTC[$0]) / Double(days * n) },
            devices: n
        )
    }
}

/// One shard of an hourly population scan.
struct HourScan: Sendable {
    var eligible = 0
    var checkIns = 0
    var eligibleByLocal = [Int](repeating: 0, count: 24)
    var devicesByLocal = [Int](repeating: 0, count: 24)

    init(_ population: DevicePopulation, hour: Int, devices: Range<Int>, phase: [UInt16]) {
        let start = hour * 3600
        population.timeZone.withUnsafeBufferPointer { zones in
            for i in devices {
                let local = ((hour * 4 + Int(zones[i])) % 96 + 96) % 96 / 4
                devicesByLocal[local] += 1
                if population.isEligible(i, at: start) {
                    eligible += 1
                    eligibleByLocal[local] += 1
                }
                if population.isEligible(i, at: start + Int(phase[i])) { checkIns += 1 }
            }
        }
    }
}
