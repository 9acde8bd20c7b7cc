internal import FederatedCore
internal import Foundation
public import KeyboardCorpus

/// N virtual phones as a struct of arrays: 17 bytes per device.
///
/// Every field is drawn once from `(seed, device)` (so any device can be re-derived on its
/// own) and quantised to small integers. The availability habits a device needs to answer
/// "am I eligible now?" are packed into one `UInt64` so that the question costs one cache
/// line of state (plus the time zone), which is what makes rejection-sampling a cohort out of
/// 10 million devices fast. See ``isEligible(_:at:)``.
///
/// Layout of ``habits`` (byte 0 is the least significant), times in 5-minute units:
/// 0 overnight charge start after 18:00 · 1 charge length · 2 daily top-up probability × 256 ·
/// 3 home arrival after 12:00 (255 = no home Wi-Fi) · 4 home departure after 00:00 ·
/// 5 bedtime after 18:00 · 6 sleep length · 7 awake screen-off probability × 256.
public struct DevicePopulation: Sendable {
    /// The configuration the population was drawn from.
    public let configuration: PopulationConfiguration
    /// UTC offset of each device in quarter hours.
    public private(set) var timeZone: [Int8]
    /// Packed availability habits of each device (layout in the type's documentation).
    public private(set) var habits: [UInt64]
    /// Compute tier of each device (index into ``PopulationConfiguration/computeTiers``).
    public private(set) var computeTier: [UInt8]
    /// Downlink tier of each device (index into ``PopulationConfiguration/downlinkTiers``).
    public private(set) var downlinkTier: [UInt8]
    /// Uplink tier of each device (index into ``PopulationConfiguration/uplinkTiers``).
    public private(set) var uplinkTier: [UInt8]
    /// Messages typed per day by each device's user (1...255).
    public private(set) var dailyMessages: [UInt8]
    /// The synthetic-corpus user whose text each device types.
    public private(set) var textUser: [UInt32]

    /// Key that seeds every availability hash.
    @usableFromInline let seedKey: UInt64
    @usableFromInline let skipNightThreshold: UInt64
    @usableFromInline let wakeThreshold: UInt64
    @usableFromInline let jitter: Int

    /// Bytes of storage per device.
    public static let bytesPerDevice = 17

    /// Draws the population.
    ///
    /// - Throws: ``FleetError`` if the configuration is out of range.
    /// - Complexity: O(devices); about a second per million devices in a debug build.
    public init(_ configuration: PopulationConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        let n = configuration.devices
        seedKey = SplitMix64.mix(configuration.seed ^ 0xA5A5_F1EE_7000_0001)
        skipNightThreshold = UInt64(configuration.skipNightProbability * 65536)
        wakeThreshold = UInt64(configuration.wakeProbability * 16_777_216)
        jitter = configuration.dailyJitter
        let zoneCDF = Self.cumulative(configuration.timeZones.map(\.weight))
        let computeCDF = Self.cumulative(configuration.computeTiers.map(\.weight))
        let downCDF = Self.cumulative(configuration.downlinkTiers.map(\.weight))
        let upCDF = Self.cumulative(configuration.uplinkTiers.map(\.weight))
        let textUsers = UInt32(clamping: configuration.textUsers ?? n)
        var timeZone = [Int8](repeating: 0, count: n)
        var habits = [UInt64](repeating: 0, count: n)
        var computeTier = [UInt8](repeating: 0, count: n)
        var downlinkTier = [UInt8](repeating: 0, count: n)
        var uplinkTier = [UInt8](repeating: 0, count: n)
        var dailyMessages = [UInt8](repeating: 0, count: n)
        var textUser = [UInt32](repeating: 0, count: n)
        let c = configuration
        /// A habitual clock time in 5-minute units after `base` (minutes after midnight).
        func clock(_ mean: Double, _ spread: Double, after base: Double, _ rng: inout SplitMix64) -> UInt64 {
            var relative = (mean - base).truncatingRemainder(dividingBy: 1440)
            if relative < 0 { relative += 1440 }
            let minutes = relative + spread * rng.nextNormal()
            return UInt64(min(max(minutes / 5, 0), 254).rounded())
        }
        func length(_ mean: Double, _ spread: Double, _ rng: inout SplitMix64) -> UInt64 {
            UInt64(min(max((mean + spread * rng.nextNormal()) / 5, 1), 255).rounded())
        }
        func probability(_ mean: Double, _ rng: inout SplitMix64) -> UInt64 {
            // Uniform on [0, 2·mean] folded into [0, 1]: habits differ, the mean is kept
            // for means up to 1/2.
            let p = min(2 * mean * rng.nextUnitDouble(), 1)
            return UInt64(min(p * 256, 255).rounded(.down))
        }
        for i in 0..<n {
            var rng = SplitMix64(seed: c.seed, streams: 0xF1EE7, UInt64(i))
            timeZone[i] = Int8(c.timeZones[rng.nextIndex(cumulative: zoneCDF)].value)
            let chargeStart = clock(c.chargeStartMean, c.chargeStartSpread, after: 1080, &rng)
            let chargeLength = length(c.chargeLengthMean, c.chargeLengthSpread, &rng)
            let topUp = probability(c.topUpProbabilityMean, &rng)
            let hasWiFi = rng.nextUnitDouble() < c.homeWiFiFraction
            let arrive = hasWiFi ? min(clock(c.arriveHomeMean, c.arriveHomeSpread, after: 720, &rng), 254) : 255
            let leave = clock(c.leaveHomeMean, c.leaveHomeSpread, after: 0, &rng)
            let sleepStart = clock(c.sleepStartMean, c.sleepStartSpread, after: 1080, &rng)
            let sleepLength = length(c.sleepLengthMean, c.sleepLengthSpread, &rng)
            let awakeIdle = probability(c.awakeIdleMean, &rng)
            habits[i] =
                chargeStart | chargeLength << 8 | topUp << 16 | arrive << 24 | leave << 32
                | sleepStart << 40 | sleepLength << 48 | awakeIdle << 56
            computeTier[i] = UInt8(rng.nextIndex(cumulative: computeCDF))
            downlinkTier[i] = UInt8(rng.nextIndex(cumulative: downCDF))
            uplinkTier[i] = UInt8(rng.nextIndex(cumulative: upCDF))
            let sigma = c.dailyMessagesSpread
            let volume = c.dailyMessagesMean * Foundation.exp(sigma * rng.nextNormal() - sigma * sigma / 2)
            dailyMessages[i] = UInt8(min(max(volume.rounded(), 1), 255))
            textUser[i] = UInt32(i) % textUsers
        }
        self.timeZone = timeZone
        self.habits = habits
        self.computeTier = computeTier
        self.downlinkTier = downlinkTier
        self.uplinkTier = uplinkTier
        self.dailyMessages = dailyMessages
        self.textUser = textUser
    }

    private static func cumulative(_ weights: [Double]) -> [Double] {
        var running = 0.0
        return weights.map {
            running += $0
            return running
        }
    }

    /// The number of devices.
    public var count: Int { habits.count }

    /// Bytes held by the population's arrays.
    public var storageBytes: Int { count * Self.bytesPerDevice }

    /// Tokens device `device` trains on: its daily messages over the training window times
    /// the tokens per message.
    public func trainingTokens(_ device: Int) -> Double {
        Double(dailyMessages[device]) * Double(configuration.trainingDays) * configuration.tokensPerMessage
    }

    /// Training seconds per token of `device`.
    public func secondsPerToken(_ device: Int) -> Double {
        configuration.computeTiers[Int(computeTier[device])].value
    }

    /// Downlink bytes per second of `device`.
    public func downlinkBytesPerSecond(_ device: Int) -> Double {
        configuration.downlinkTiers[Int(downlinkTier[device])].value * 125_000
    }

    /// Uplink bytes per second of `device`.
    public func uplinkBytesPerSecond(_ device: Int) -> Double {
        configuration.uplinkTiers[Int(uplinkTier[device])].value * 125_000
    }
}

extension DevicePopulation {
    /// The local day (days since the epoch in the device's time zone) at virtual time `time`.
    public func localDay(_ device: Int, at time: Int) -> Int {
        Self.floorDiv(Self.floorDiv(time + Int(timeZone[device]) * 900, 60), 1440)
    }

    /// The text `device` trains on at `time`: what its user typed on the
    /// ``PopulationConfiguration/trainingDays`` local days before today, generated on demand
    /// from `corpus` (user ``textUser``), oldest first.
    public func trainingMessages(of device: Int, at time: Int, corpus: SyntheticCorpus) -> [[String]] {
        corpus.recentMessages(
            user: Int(textUser[device]), before: localDay(device, at: time), days: configuration.trainingDays)
    }
}
