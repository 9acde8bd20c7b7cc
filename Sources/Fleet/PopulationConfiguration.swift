/// How virtual phones live their day: the distributions a ``DevicePopulation`` is drawn from.
///
/// Clock times are local minutes after midnight; durations are minutes. docs/fleet.md gives
/// the reasoning behind every default (mostly Bonawitz et al. 2019 and public phone-usage
/// studies); every field is a `kbd-sim fleet` flag.
public struct PopulationConfiguration: Sendable, Equatable {
    /// Number of devices (default 1,000,000; 10,000,000 fits in well under 1 GB).
    public var devices: Int = 1_000_000
    /// Seed of the population and of its availability.
    public var seed: UInt64 = 1

    /// UTC offsets (values in quarter hours) and weights of the devices' time zones.
    public var timeZones: [WeightedChoice<Int>] = PopulationConfiguration.defaultTimeZones

    /// Mean local start of overnight charging (minutes after midnight; default 22:30).
    public var chargeStartMean: Double = 22.5 * 60
    /// Standard deviation of the device's habitual charging start, minutes.
    public var chargeStartSpread: Double = 75
    /// Mean overnight charging length, minutes (default 7.5 h).
    public var chargeLengthMean: Double = 450
    /// Standard deviation of the device's habitual charging length, minutes.
    public var chargeLengthSpread: Double = 75
    /// Probability that a device is not plugged in on a given night.
    public var skipNightProbability: Double = 0.08
    /// Mean probability per day of a daytime top-up charge (09:00–18:00, 20–90 min).
    public var topUpProbabilityMean: Double = 0.3

    /// Fraction of devices with home Wi-Fi (the others are always metered).
    public var homeWiFiFraction: Double = 0.8
    /// Mean local time of arriving home (minutes after midnight; default 18:30).
    public var arriveHomeMean: Double = 18.5 * 60
    /// Standard deviation of the device's habitual arrival time, minutes.
    public var arriveHomeSpread: Double = 75
    /// Mean local time of leaving home (default 08:00).
    public var leaveHomeMean: Double = 8 * 60
    /// Standard deviation of the device's habitual leaving time, minutes.
    public var leaveHomeSpread: Double = 60

    /// Mean local bedtime (default 23:15): the screen is off while asleep.
    public var sleepStartMean: Double = 23.25 * 60
    /// Standard deviation of the device's habitual bedtime, minutes.
    public var sleepStartSpread: Double = 60
    /// Mean sleep length, minutes (default 7.25 h).
    public var sleepLengthMean: Double = 435
    /// Standard deviation of the device's habitual sleep length, minutes.
    public var sleepLengthSpread: Double = 60
    /// Probability that the screen comes on in a 5-minute slot of sleep (a glance at the phone).
    public var wakeProbability: Double = 0.02
    /// Mean probability that the screen is off in a 5-minute slot while awake.
    public var awakeIdleMean: Double = 0.5
    /// Day-to-day jitter of every habit (uniform ±, minutes).
    public var dailyJitter: Int = 30

    /// Training seconds per token (values) of each compute tier, and the tiers' shares.
    public var computeTiers: [WeightedChoice<Double>] = [
        .init(0.2, 0.15), .init(0.1, 0.35), .init(0.05, 0.35), .init(0.025, 0.15),
    ]
    /// Downlink megabits per second of each tier, and the tiers' shares.
    public var downlinkTiers: [WeightedChoice<Double>] = [
        .init(3, 0.15), .init(10, 0.3), .init(30, 0.35), .init(100, 0.2),
    ]
    /// Uplink megabits per second of each tier, and the tiers' shares.
    public var uplinkTiers: [WeightedChoice<Double>] = [.init(1, 0.2), .init(3, 0.35), .init(10, 0.3), .init(30, 0.15)]

    /// Mean messages typed per day.
    public var dailyMessagesMean: Double = 12
    /// Standard deviation of the log of a device's daily message volume.
    public var dailyMessagesSpread: Double = 0.7
    /// Tokens per message, to turn message volume into training tokens.
    public var tokensPerMessage: Double = 9
    /// Days of typed text a device caches for training (default 7).
    public var trainingDays: Int = 7
    /// Users of the synthetic corpus that devices' text is drawn from (device `i` types as
    /// user `i mod textUsers`; default: one user per device).
    public var textUsers: Int? = nil

    /// Creates the default configuration.
    public init() {}

    /// Smartphone users by UTC offset, roughly: the Americas, Europe and Africa, India, East Asia.
    public static let defaultTimeZones: [WeightedChoice<Int>] = [
        (-32, 0.04), (-28, 0.02), (-24, 0.04), (-20, 0.07), (-16, 0.02), (-12, 0.06),
        (0, 0.04), (4, 0.09), (8, 0.06), (12, 0.05), (22, 0.20), (28, 0.08), (32, 0.18), (36, 0.04), (40, 0.01),
    ].map { WeightedChoice($0.0, $0.1) }

    /// Checks every field.
    ///
    /// - Throws: ``FleetError`` with ``FleetError/Code/invalidConfiguration`` naming the field.
    public func validate() throws {
        func fail(_ field: String, _ rule: String, _ value: Any) -> FleetError {
            FleetError(.invalidConfiguration, "\(field) must be \(rule) (got \(value))")
        }
        func probability(_ field: String, _ p: Double) throws {
            guard p >= 0, p <= 1 else { throw fail(field, "a probability in [0, 1]", p) }
        }
        func clock(_ field: String, _ minutes: Double) throws {
            guard minutes >= 0, minutes < 1440 else { throw fail(field, "a time of day in minutes, 0..<1440", minutes) }
        }
        func spread(_ field: String, _ minutes: Double) throws {
            guard minutes >= 0, minutes <= 600 else { throw fail(field, "a spread in minutes, 0...600", minutes) }
        }
        func table(_ field: String, _ rows: [(Double, Double)]) throws {
            guard !rows.isEmpty, rows.count <= 255 else { throw fail(field, "a list of 1 to 255 tiers", rows.count) }
            guard rows.allSatisfy({ $0.0 > 0 && $0.1 >= 0 }), rows.contains(where: { $0.1 > 0 }) else {
                throw fail(
                    field, "positive values with non-negative weights, not all zero", rows.map { "\($0.0):\($0.1)" })
            }
        }
        guard devices >= 1, devices <= Int(UInt32.max) else { throw fail("devices", "in 1...\(UInt32.max)", devices) }
        guard !timeZones.isEmpty, timeZones.allSatisfy({ (-48...56).contains($0.value) && $0.weight >= 0 }),
            timeZones.contains(where: { $0.weight > 0 })
        else {
            throw fail(
                "time zones", "offsets within UTC-12...UTC+14 with non-negative weights, not all zero", timeZones.count)
        }
        try clock("charge start", chargeStartMean)
        try spread("charge start spread", chargeStartSpread)
        guard chargeLengthMean >= 5, chargeLengthMean <= 720 else {
            throw fail("charge length", "5...720 minutes", chargeLengthMean)
        }
        try spread("charge length spread", chargeLengthSpread)
        try probability("skip-night probability", skipNightProbability)
        try probability("top-up probability", topUpProbabilityMean)
        try probability("home Wi-Fi fraction", homeWiFiFraction)
        try clock("arrive-home time", arriveHomeMean)
        try spread("arrive-home spread", arriveHomeSpread)
        try clock("leave-home time", leaveHomeMean)
        try spread("leave-home spread", leaveHomeSpread)
        try clock("sleep start", sleepStartMean)
        try spread("sleep start spread", sleepStartSpread)
        guard sleepLengthMean >= 0, sleepLengthMean <= 720 else {
            throw fail("sleep length", "0...720 minutes", sleepLengthMean)
        }
        try spread("sleep length spread", sleepLengthSpread)
        try probability("wake probability", wakeProbability)
        try probability("awake idle probability", awakeIdleMean)
        guard dailyJitter >= 0, dailyJitter <= 120 else { throw fail("daily jitter", "0...120 minutes", dailyJitter) }
        try table("compute tiers", computeTiers.map { ($0.value, $0.weight) })
        try table("downlink tiers", downlinkTiers.map { ($0.value, $0.weight) })
        try table("uplink tiers", uplinkTiers.map { ($0.value, $0.weight) })
        guard dailyMessagesMean > 0, dailyMessagesMean <= 200 else {
            throw fail("daily messages", "in (0, 200]", dailyMessagesMean)
        }
        guard dailyMessagesSpread >= 0, dailyMessagesSpread <= 3 else {
            throw fail("daily messages spread", "in [0, 3]", dailyMessagesSpread)
        }
        guard tokensPerMessage > 0 else { throw fail("tokens per message", "positive", tokensPerMessage) }
        guard trainingDays >= 1, trainingDays <= 365 else { throw fail("training days", "in 1...365", trainingDays) }
        if let textUsers { guard textUsers >= 1 else { throw fail("text users", "at least 1", textUsers) } }
    }
}

/// A value and its relative weight in a discrete distribution (weights need not sum to 1).
public struct WeightedChoice<Value: Sendable & Equatable>: Sendable, Equatable {
    /// The value chosen.
    public var value: Value
    /// Its relative weight (non-negative).
    public var weight: Double

    /// A value with a weight.
    public init(_ value: Value, _ weight: Double) {
        self.value = value
        self.weight = weight
    }
}
