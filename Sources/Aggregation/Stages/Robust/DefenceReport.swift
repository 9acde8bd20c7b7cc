/// The distribution of a round's update norms as a defence saw them (before it changed any):
/// counts and statistics only.
public struct NormDistribution: Codable, Sendable, Equatable {
    /// Updates seen.
    public var count = 0
    /// Smallest, median, mean and largest L2 norm (0 when none was seen).
    public var min = 0.0
    public var median = 0.0
    public var mean = 0.0
    public var max = 0.0
    /// Updates per half-decade bin of ``NormHistogramStage/edges``: below the first edge,
    /// between each pair, at or above the last.
    public var counts: [Int] = []

    /// The distribution of `norms`.
    public init(_ norms: [Double]) {
        counts = [Int](repeating: 0, count: NormHistogramStage.edges.count + 1)
        guard !norms.isEmpty else { return }
        let sorted = norms.sorted()
        count = sorted.count
        min = sorted[0]
        max = sorted[sorted.count - 1]
        median =
            sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        mean = sorted.reduce(0, +) / Double(sorted.count)
        for norm in norms {
            counts[NormHistogramStage.edges.firstIndex { norm < $0 } ?? NormHistogramStage.edges.count] += 1
        }
    }
}

/// What a defence stage records about a round (stored with the round, in `runs show` and the
/// JSON): the norms it saw and which devices it left out or changed, by id, never a value.
public struct DefenceReport: Codable, Sendable, Equatable {
    /// The stage's setting as written (`krum:f=2`, `norm-bound:1.0`).
    public var defence: String
    /// The updates' norms on arrival.
    public var norms: NormDistribution
    /// Updates left out of the aggregate entirely (Krum's unselected), and their devices.
    public var discarded = 0
    public var discardedDevices: [UInt32] = []
    /// Updates scaled down to the norm bound, and their devices.
    public var clipped = 0
    public var clippedDevices: [UInt32] = []
    /// Values dropped at each end of every coordinate (trimmed mean), when the rule trims.
    public var trimmedPerCoordinate: Int?
    /// The devices whose updates make the aggregate (Krum, multi-Krum).
    public var selectedDevices: [UInt32]?

    public init(defence: String, norms: NormDistribution) {
        self.defence = defence
        self.norms = norms
    }
}
