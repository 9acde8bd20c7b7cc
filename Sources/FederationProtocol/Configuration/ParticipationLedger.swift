/// How often each phone has reported in a run's committed rounds, and when last: what
/// ``ParticipationLimits`` are checked against, and what the default privacy accounting
/// composes over (a phone's ε grows with its participations, not with the run's rounds).
///
/// The server keeps one, rebuilt from the store's participants on resume; the fleet gets a
/// copy with the attachment, so selection skips the phones the server would refuse.
public struct ParticipationLedger: Codable, Sendable, Equatable {
    /// One phone's record.
    public struct Entry: Codable, Sendable, Equatable {
        public var device: UInt32
        /// Committed rounds it reported in.
        public var count: Int
        /// The last such round (1-based).
        public var lastRound: Int

        public init(device: UInt32, count: Int, lastRound: Int) {
            self.device = device
            self.count = count
            self.lastRound = lastRound
        }
    }

    private var entries: [UInt32: Entry] = [:]
    /// The most rounds any one phone has reported in.
    public private(set) var maximumCount = 0

    public init() {}

    /// A ledger holding `entries`.
    public init(_ entries: [Entry]) {
        for e in entries { self.entries[e.device] = e }
        maximumCount = entries.map(\.count).max() ?? 0
    }

    /// Every phone that reported, by device id.
    public var allEntries: [Entry] { entries.values.sorted { $0.device < $1.device } }

    /// The record of `device` (count 0 if it never reported).
    public func entry(_ device: UInt32) -> Entry {
        entries[device] ?? Entry(device: device, count: 0, lastRound: 0)
    }

    /// Whether `limits` let `device` report in `round`.
    public func allows(_ device: UInt32, round: Int, under limits: ParticipationLimits) -> Bool {
        let e = entry(device)
        return limits.allows(count: e.count, last: e.lastRound, round: round)
    }

    /// Records that `devices` reported in committed round `round`.
    public mutating func record(_ devices: [UInt32], round: Int) {
        for d in devices {
            var e = entry(d)
            e.count += 1
            e.lastRound = round
            entries[d] = e
            maximumCount = max(maximumCount, e.count)
        }
    }

    // Encoded as the sorted list of entries.
    public init(from decoder: any Decoder) throws {
        self.init(try [Entry](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try allEntries.encode(to: encoder)
    }
}
