public import ArgumentParser
import FederatedCore
import Fleet
import Foundation

/// `kbd-sim fleet`: the virtual phones.
public struct FleetCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Simulate a fleet of virtual phones that can train only when charging, on Wi-Fi and idle.",
        subcommands: [FleetSimulateCommand.self, FleetBenchCommand.self]
    )

    public init() {}
}

/// Flags that shape the population (defaults and reasoning in docs/fleet.md).
struct PopulationOptions: ParsableArguments {
    @Option(help: "Number of virtual devices.")
    var devices: Int = 1_000_000
    @Option(help: "Seed of the population, its availability and the rounds.")
    var seed: UInt64 = 1
    @Option(
        help: ArgumentHelp(
            "Time zones as UTC-offset-hours:weight pairs, comma-separated; write = before a negative first offset (--time-zones=-5:0.3,1:0.3,5.5:0.4).",
            valueName: "zones"))
    var timeZones: String?
    @Option(help: ArgumentHelp("Mean local start of overnight charging (HH:MM).", valueName: "HH:MM"))
    var chargeStart: String = "22:30"
    @Option(help: "Spread (standard deviation) of devices' charging start, minutes.")
    var chargeStartSpread: Double = 75
    @Option(help: "Mean overnight charging length, minutes.")
    var chargeLength: Double = 450
    @Option(help: "Spread of devices' charging length, minutes.")
    var chargeLengthSpread: Double = 75
    @Option(help: "Probability a device is not charged on a given night.")
    var skipNight: Double = 0.08
    @Option(help: "Mean daily probability of a daytime top-up charge (09:00–18:00).")
    var topUp: Double = 0.3
    @Option(help: "Fraction of devices with home Wi-Fi (others are always metered).")
    var homeWifi: Double = 0.8
    @Option(help: ArgumentHelp("Mean local time of arriving home (HH:MM).", valueName: "HH:MM"))
    var arriveHome: String = "18:30"
    @Option(help: "Spread of devices' arrival time, minutes.")
    var arriveHomeSpread: Double = 75
    @Option(help: ArgumentHelp("Mean local time of leaving home (HH:MM).", valueName: "HH:MM"))
    var leaveHome: String = "08:00"
    @Option(help: "Spread of devices' leaving time, minutes.")
    var leaveHomeSpread: Double = 60
    @Option(help: ArgumentHelp("Mean local bedtime (HH:MM).", valueName: "HH:MM"))
    var sleepStart: String = "23:15"
    @Option(help: "Spread of devices' bedtime, minutes.")
    var sleepStartSpread: Double = 60
    @Option(help: "Mean sleep length, minutes.")
    var sleepLength: Double = 435
    @Option(help: "Spread of devices' sleep length, minutes.")
    var sleepLengthSpread: Double = 60
    @Option(help: "Probability the screen comes on in a 5-minute slot of sleep.")
    var wake: Double = 0.02
    @Option(help: "Mean probability the screen is off in a 5-minute slot while awake.")
    var awakeIdle: Double = 0.5
    @Option(help: "Day-to-day jitter of every habit, ± minutes.")
    var jitter: Int = 30
    @Option(help: ArgumentHelp("Compute tiers as seconds-per-token:weight pairs.", valueName: "tiers"))
    var computeTiers: String = "0.2:0.15,0.1:0.35,0.05:0.35,0.025:0.15"
    @Option(help: ArgumentHelp("Downlink tiers as Mbit/s:weight pairs.", valueName: "tiers"))
    var downlinkTiers: String = "3:0.15,10:0.3,30:0.35,100:0.2"
    @Option(help: ArgumentHelp("Uplink tiers as Mbit/s:weight pairs.", valueName: "tiers"))
    var uplinkTiers: String = "1:0.2,3:0.35,10:0.3,30:0.15"
    @Option(help: "Mean messages typed per device per day.")
    var dailyMessages: Double = 12
    @Option(help: "Spread (log standard deviation) of daily message volume.")
    var dailyMessagesSpread: Double = 0.7
    @Option(help: "Tokens per message.")
    var tokensPerMessage: Double = 9
    @Option(help: "Days of typed text a device trains on (D).")
    var trainingDays: Int = 7

    func configuration() throws -> PopulationConfiguration {
        var c = PopulationConfiguration()
        c.devices = devices
        c.seed = seed
        if let timeZones {
            c.timeZones = try Self.pairs(timeZones, name: "--time-zones").map {
                WeightedChoice(Int(($0.0 * 4).rounded()), $0.1)
            }
        }
        c.chargeStartMean = try Self.clock(chargeStart, name: "--charge-start")
        c.chargeStartSpread = chargeStartSpread
        c.chargeLengthMean = chargeLength
        c.chargeLengthSpread = chargeLengthSpread
        c.skipNightProbability = skipNight
        c.topUpProbabilityMean = topUp
        c.homeWiFiFraction = homeWifi
        c.arriveHomeMean = try Self.clock(arriveHome, name: "--arrive-home")
        c.arriveHomeSpread = arriveHomeSpread
        c.leaveHomeMean = try Self.clock(leaveHome, name: "--leave-home")
        c.leaveHomeSpread = leaveHomeSpread
        c.sleepStartMean = try Self.clock(sleepStart, name: "--sleep-start")
        c.sleepStartSpread = sleepStartSpread
        c.sleepLengthMean = sleepLength
        c.sleepLengthSpread = sleepLengthSpread
        c.wakeProbability = wake
        c.awakeIdleMean = awakeIdle
        c.dailyJitter = jitter
        c.computeTiers = try Self.pairs(computeTiers, name: "--compute-tiers").map { WeightedChoice($0.0, $0.1) }
        c.downlinkTiers = try Self.pairs(downlinkTiers, name: "--downlink-tiers").map { WeightedChoice($0.0, $0.1) }
        c.uplinkTiers = try Self.pairs(uplinkTiers, name: "--uplink-tiers").map { WeightedChoice($0.0, $0.1) }
        c.dailyMessagesMean = dailyMessages
        c.dailyMessagesSpread = dailyMessagesSpread
        c.tokensPerMessage = tokensPerMessage
        c.trainingDays = trainingDays
        do {
            try c.validate()
        } catch let error as FleetError {
            throw ValidationError(error.message)
        }
        return c
    }

    static func clock(_ text: String, name: String) throws -> Double {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m)
        else {
            throw ValidationError("\(name) must be a time of day HH:MM, e.g. 22:30 (got \"\(text)\")")
        }
        return Double(h * 60 + m)
    }

    static func pairs(_ text: String, name: String) throws -> [(Double, Double)] {
        let pairs = try text.split(separator: ",").map { item -> (Double, Double) in
            let parts = item.split(separator: ":")
            guard parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]) else {
                throw ValidationError(
                    "\(name) must be comma-separated VALUE:WEIGHT pairs, e.g. 3:0.5,10:0.5 (bad item \"\(item)\")")
            }
            return (a, b)
        }
        guard !pairs.isEmpty else { throw ValidationError("\(name) needs at least one VALUE:WEIGHT pair") }
        return pairs
    }
}

/// Flags that shape a round.
struct RoundOptions: ParsableArguments {
    @Option(help: "Reports wanted per round (K).")
    var cohort: Int = 500
    @Option(help: "Devices selected per wanted report (1.3 = 130%).")
    var overSelection: Double = 1.3
    @Option(help: "Reporting deadline, seconds after selection.")
    var deadline: Int = 240
    @Option(help: "Rounds with fewer than this fraction of K reports are abandoned.")
    var minReportFraction: Double = 0.8
    @Option(help: "Bytes each device downloads (the model).")
    var modelBytes: Int = 5_600_000
    @Option(help: "Bytes each device uploads (the update).")
    var updateBytes: Int = 1_400_000
    @Option(help: "Passes over the device's cached text per round.")
    var epochs: Double = 1
    @Option(help: "Per-round network throughput varies by ± this fraction.")
    var networkJitter: Double = 0.5
    @Option(help: "Seconds between a round's close and the next selection.")
    var serverGap: Int = 20

    func configuration(devices: Int) throws -> RoundConfiguration {
        var c = RoundConfiguration()
        c.cohort = cohort
        c.overSelection = overSelection
        c.reportingDeadline = deadline
        c.minimumReportFraction = minReportFraction
        c.modelBytes = modelBytes
        c.updateBytes = updateBytes
        c.epochs = epochs
        c.networkJitter = networkJitter
        c.serverGap = serverGap
        do {
            try c.validate(devices: devices)
        } catch let error as FleetError {
            throw ValidationError(error.message)
        }
        return c
    }
}

/// `kbd-sim fleet simulate`.
struct FleetSimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run rounds back to back on a virtual fleet and report each hour.",
        discussion: """
            Prints, per simulated UTC hour: eligible devices (charging, unmetered Wi-Fi and \
            idle), check-ins, rounds, selected, reported, dropped, stragglers, surplus and \
            abandoned rounds. Defaults and their reasoning: docs/fleet.md.

            Example:
              kbd-sim fleet simulate --devices 1000000 --days 3 --cohort 500 --csv fleet.csv --svg fleet.svg
            """
    )

    @OptionGroup var population: PopulationOptions
    @OptionGroup var rounds: RoundOptions
    @Option(help: "Days to simulate.")
    var days: Int = 3
    @Option(help: ArgumentHelp("Write the hourly table as CSV.", valueName: "path"))
    var csv: String?
    @Option(help: ArgumentHelp("Write an SVG chart of eligibility by hour of day.", valueName: "path"))
    var svg: String?
    @Flag(help: "Print the report as JSON on standard output instead of the table.")
    var json = false

    func validate() throws {
        guard population.devices >= 1 else {
            throw ValidationError("--devices must be at least 1 (got \(population.devices))")
        }
        guard days >= 1 else { throw ValidationError("--days must be at least 1 (got \(days))") }
        guard rounds.cohort >= 1 else { throw ValidationError("--cohort must be at least 1 (got \(rounds.cohort))") }
        guard rounds.cohort <= population.devices else {
            throw ValidationError(
                "--cohort \(rounds.cohort) is larger than the population (--devices \(population.devices))")
        }
        _ = try population.configuration()
        _ = try rounds.configuration(devices: population.devices)
    }

    func run() async throws {
        let populationConfiguration = try population.configuration()
        let roundConfiguration = try rounds.configuration(devices: population.devices)
        let clock = ContinuousClock()
        let began = clock.now
        note("drawing \(populationConfiguration.devices) devices (seed \(populationConfiguration.seed))…")
        let fleet = try DevicePopulation(populationConfiguration)
        note(
            "population ready in \(seconds(clock.now - began)) s; simulating \(days) days, cohort \(roundConfiguration.cohort) (\(roundConfiguration.selectionSize) selected per round)"
        )
        let header = pad([
            "hour", "eligible", "elig%", "check-ins", "rounds", "selected", "reported", "dropped", "stragglers",
            "surplus", "abandoned",
        ])
        if !json { print(header) }
        let report = try await FleetTimeline.simulate(population: fleet, rounds: roundConfiguration, days: days) { h in
            let row = pad([
                "d\(h.hour / 24) \(h.hour % 24 < 10 ? "0" : "")\(h.hour % 24):00", "\(h.eligible)",
                String(format: "%.2f", 100 * Double(h.eligible) / Double(fleet.count)), "\(h.checkIns)", "\(h.rounds)",
                "\(h.selected)", "\(h.reported)", "\(h.dropped)", "\(h.stragglers)", "\(h.surplus)",
                "\(h.abandonedRounds)",
            ])
            if json { note(row) } else { print(row) }
        }
        let selected = max(report.total(\.selected), 1)
        let summary = """
            \(report.total(\.rounds)) rounds, \(report.total(\.abandonedRounds)) abandoned; of \(report.total(\.selected)) selected: \
            \(report.total(\.reported)) reported, \(report.total(\.dropped)) dropped (\(String(format: "%.1f", 100 * Double(report.total(\.dropped)) / Double(selected)))%), \
            \(report.total(\.stragglers)) stragglers (\(String(format: "%.1f", 100 * Double(report.total(\.stragglers)) / Double(selected)))%), \
            \(report.total(\.surplus)) surplus; wall time \(seconds(clock.now - began)) s
            """
        if json {
            print(report.json(), terminator: "")
            note(summary)
        } else {
            print(summary)
        }
        if let csv { try writeReport(report.csv(), to: csv) }
        if let svg { try writeReport(report.svg(), to: svg) }
    }

    private func pad(_ cells: [String]) -> String {
        let widths = [9, 9, 6, 10, 7, 9, 9, 8, 11, 8, 10]
        return zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(
            separator: " ")
    }
}

/// `kbd-sim fleet bench`: memory of a population and the time to choose a cohort.
struct FleetBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a population's memory and the time to choose a cohort of eligible devices.",
        discussion: """
            Build with -c release. Reports the population's storage, the process's resident \
            memory (VmHWM, VmRSS) and the best and median time of --repeats cohort selections at \
            UTC hours 0, 6, 12 and 18 of day 1.

            Example:
              swift build -c release && /usr/bin/time -v .build/release/kbd-sim fleet bench --devices 10000000 --cohort 1000
            """
    )

    @OptionGroup var population: PopulationOptions
    @Option(help: "Eligible devices to choose per selection.")
    var cohort: Int = 1000
    @Option(help: "Selections timed per hour.")
    var repeats: Int = 21
    @Flag(help: "Print one JSON document instead of tables.")
    var json = false

    func validate() throws {
        guard population.devices >= 1 else {
            throw ValidationError("--devices must be at least 1 (got \(population.devices))")
        }
        guard cohort >= 1, cohort <= population.devices else {
            throw ValidationError("--cohort must be in 1...--devices (got \(cohort))")
        }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1 (got \(repeats))") }
    }

    func run() async throws {
        let configuration = try population.configuration()
        let clock = ContinuousClock()
        let began = clock.now
        let fleet = try DevicePopulation(configuration)
        let buildSeconds = seconds(clock.now - began)
        if !json {
            print(
                "devices: \(fleet.count); built in \(buildSeconds) s; storage \(fleet.storageBytes / 1_000_000) MB (\(DevicePopulation.bytesPerDevice) bytes/device)"
            )
            print("memory: \(memoryLine())")
        }
        var table = SummaryTable(columns: ["UTC hour", "eligible %", "cohort", "best ms", "median ms", "probes"])
        var rows: [[String: Any]] = []
        for hour in [24, 30, 36, 42] {
            let time = hour * 3600
            // Estimate the eligible fraction from 200,000 probes.
            var probe = SplitMix64(seed: 77, streams: UInt64(hour))
            var eligible = 0
            for _ in 0..<200_000 where fleet.isEligible(Int(probe.next() % UInt64(fleet.count)), at: time) {
                eligible += 1
            }
            var timings: [Double] = []
            var got = 0
            var probes = 0
            for r in 0..<repeats {
                var rng = SplitMix64(seed: configuration.seed, streams: 0xBE4C, UInt64(hour), UInt64(r))
                let start = clock.now
                let result = fleet.sampleEligible(size: cohort, at: time, using: &rng)
                timings.append(milliseconds(clock.now - start))
                got = result.devices.count
                probes = result.probes
            }
            timings.sort()
            let eligiblePercent = 100 * Double(eligible) / 200_000
            let hourText = "\(hour % 24 < 10 ? "0" : "")\(hour % 24):00"
            table.append([
                hourText, String(format: "%.2f", eligiblePercent), String(got), String(format: "%.3f", timings[0]),
                String(format: "%.3f", timings[timings.count / 2]), String(probes),
            ])
            rows.append([
                "UTC hour": hourText, "eligible %": eligiblePercent, "cohort": got, "best ms": timings[0],
                "median ms": timings[timings.count / 2], "probes": probes,
            ])
        }
        if json {
            printJSON(
                [
                    "devices": fleet.count, "bytes per device": DevicePopulation.bytesPerDevice,
                    "storage bytes": fleet.storageBytes, "build seconds": Double(buildSeconds) ?? 0,
                    "peak memory kB": peakMemoryKilobytes() as Any, "selections": rows,
                ] as [String: Any])
        } else {
            print(table.render())
            print("memory: \(memoryLine())")
        }
    }

    /// VmHWM from /proc/self/status, in kB.
    private func peakMemoryKilobytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    private func memoryLine() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else {
            return "unavailable"
        }
        return status.split(separator: "\n").filter { $0.hasPrefix("VmHWM") || $0.hasPrefix("VmRSS") }
            .map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }.joined(
                separator: ", ")
    }
}

private func note(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

private func seconds(_ d: Duration) -> String {
    String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
}

private func milliseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) * 1e-15
}

/// A file the fleet or oracle command could not write (exit code 1, one line).
struct FleetOutputError: Error, CustomStringConvertible {
    var description: String
}

/// Writes a report file, turning failures into one clear line.
func writeReport(_ text: String, to path: String) throws {
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        throw FleetOutputError(description: "cannot write \(path): \(error.localizedDescription)")
    }
}
