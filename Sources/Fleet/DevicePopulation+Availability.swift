public import FederatedCore

/// Availability: a pure function of (population seed, device, virtual time).
///
/// Virtual time is whole seconds since the simulation epoch, midnight UTC of day 0. A device
/// is **eligible** to train when it is charging, on unmetered Wi-Fi and idle (screen off), in
/// its own local time:
/// - *charging*: inside the overnight window of the night that started on this local day or
///   the previous one (habitual start and length, each shifted by a daily jitter; skipped
///   with probability `skipNightProbability`), or inside the day's top-up window (with the
///   device's daily top-up probability, 09:00–18:00, 20–90 minutes);
/// - *unmetered*: the device has home Wi-Fi and is home: before the day's departure or after
///   the day's arrival (both jittered daily);
/// - *idle*: each 5-minute local slot is screen-off with probability `1 − wakeProbability`
///   while asleep (the nightly sleep window, jittered) and the device's awake-idle
///   probability otherwise.
/// Every daily or per-slot draw is a hash of (seed, device, day or slot, kind), so there is no
/// event queue: any device can be asked about any time. Eligibility changes only on whole
/// minutes.
extension DevicePopulation {
    @inlinable @inline(__always)
    func hash(_ device: Int, _ period: Int, _ kind: UInt64) -> UInt64 {
        let a = SplitMix64.mix(seedKey ^ (UInt64(truncatingIfNeeded: device) &* 0x9E37_79B9_7F4A_7C15))
        return SplitMix64.mix(
            a ^ (UInt64(bitPattern: Int64(period)) &* 0xD1B5_4A32_D192_ED03) ^ (kind &* 0x8CB9_2BA7_2F3D_8DD7))
    }

    @inlinable @inline(__always)
    func jitterMinutes(_ h: UInt64, _ shift: UInt64) -> Int {
        Int((h >> shift) % UInt64(2 * jitter + 1)) - jitter
    }

    @inlinable @inline(__always)
    static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Whether `device` is in the overnight charging window of the night starting on local day
    /// `day`, at `minute` minutes after that day's midnight.
    @inlinable @inline(__always)
    func chargingOvernight(_ device: Int, habits h: UInt64, day: Int, minute: Int) -> Bool {
        let r = hash(device, day, 2)
        if r & 0xFFFF < skipNightThreshold { return false }
        let start = 1080 + Int(h & 0xFF) * 5 + jitterMinutes(r, 16)
        let length = Int(h >> 8 & 0xFF) * 5 + jitterMinutes(r, 32)
        return minute >= start && minute < start + length
    }

    @inlinable @inline(__always)
    func asleep(_ device: Int, habits h: UInt64, day: Int, minute: Int) -> Bool {
        let r = hash(device, day, 4)
        let start = 1080 + Int(h >> 40 & 0xFF) * 5 + jitterMinutes(r, 16)
        let length = Int(h >> 48 & 0xFF) * 5 + jitterMinutes(r, 32)
        return minute >= start && minute < start + length
    }

    /// Whether `device` is charging, on unmetered Wi-Fi and idle at virtual time `time`.
    ///
    /// - Complexity: O(1): at most eight 64-bit hashes and two array reads.
    @inlinable
    public func isEligible(_ device: Int, at time: Int) -> Bool {
        let h = habits[device]
        let localMinute = Self.floorDiv(time + Int(timeZone[device]) * 900, 60)
        let day = Self.floorDiv(localMinute, 1440)
        let minute = localMinute - day * 1440
        // Unmetered: home Wi-Fi, and home.
        let arriveCode = h >> 24 & 0xFF
        if arriveCode == 255 { return false }
        let w = hash(device, day, 1)
        let leave = Int(h >> 32 & 0xFF) * 5 + jitterMinutes(w, 0)
        let arrive = 720 + Int(arriveCode) * 5 + jitterMinutes(w, 16)
        guard minute < leave || minute >= arrive else { return false }
        // Charging: overnight (tonight's or last night's window) or a daytime top-up.
        var charging =
            chargingOvernight(device, habits: h, day: day - 1, minute: minute + 1440)
            || chargingOvernight(device, habits: h, day: day, minute: minute)
        if !charging {
            let topUp = h >> 16 & 0xFF
            if topUp > 0 {
                let t = hash(device, day, 3)
                if t & 0xFF < topUp {
                    let start = 540 + Int((t >> 8) % 540)
                    let length = 20 + Int((t >> 20) % 71)
                    charging = minute >= start && minute < start + length
                }
            }
        }
        guard charging else { return false }
        // Idle: the screen is off in this 5-minute slot.
        let sleeping =
            asleep(device, habits: h, day: day - 1, minute: minute + 1440)
            || asleep(device, habits: h, day: day, minute: minute)
        let u = hash(device, Self.floorDiv(localMinute, 5), 5) >> 40
        return sleeping ? u >= wakeThreshold : u < (h >> 56) << 16
    }

    /// The first whole minute in `(time, end]` at which `device` is not eligible, or `nil`
    /// if it stays eligible through `end`.
    ///
    /// - Complexity: O((end − time) / 60) eligibility checks.
    public func eligibilityEnd(_ device: Int, after time: Int, through end: Int) -> Int? {
        var boundary = (Self.floorDiv(time, 60) + 1) * 60
        while boundary <= end {
            if !isEligible(device, at: boundary) { return boundary }
            boundary += 60
        }
        return nil
    }

    /// The number of eligible devices at `time` (a full scan).
    public func eligibleCount(at time: Int) -> Int {
        var n = 0
        for i in 0..<count where isEligible(i, at: time) { n += 1 }
        return n
    }

    /// The local hour of day (0...23) of `device` at virtual time `time`.
    public func localHour(_ device: Int, at time: Int) -> Int {
        let localMinute = Self.floorDiv(time + Int(timeZone[device]) * 900, 60)
        return (localMinute - Self.floorDiv(localMinute, 1440) * 1440) / 60
    }
}
