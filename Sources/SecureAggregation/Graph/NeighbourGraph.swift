/// The SecAgg+ communication graph: a Harary graph H(k, K) laid on a seeded random permutation
/// of the cohort (Bell et al. 2020, §3).
///
/// Position the K phones on a ring in the order of a random permutation π; each is joined to
/// the k/2 phones before and the k/2 after it. The graph is k-regular (k even), and because π
/// is random, a phone's neighbours are a random-looking set that the server cannot steer
/// without changing the public seed. With k ≥ K − 1 it is the complete graph (SecAgg).
/// Phones and server derive the same graph from (cohort size, k, seed).
public struct NeighbourGraph: Sendable, Hashable {
    /// K.
    public let cohortSize: Int
    /// Neighbours per phone (even, or K − 1 for the complete graph).
    public let degree: Int
    /// position[phone] on the ring.
    private let position: [Int]
    /// phone at each ring position (π).
    private let order: [Int]

    /// The graph for `cohortSize` phones of degree `degree` (clamped to K − 1), from `seed`.
    public init(cohortSize: Int, degree: Int, seed: UInt64) {
        precondition(cohortSize >= 1, "a cohort has at least one phone")
        precondition(degree >= 0, "degree must be ≥ 0")
        self.cohortSize = cohortSize
        let k = min(degree, cohortSize - 1)
        self.degree = k >= cohortSize - 1 ? cohortSize - 1 : k & ~1
        var rng = ShuffleGenerator(seed: seed)
        var order = Array(0..<cohortSize)
        order.shuffle(using: &rng)
        self.order = order
        var position = [Int](repeating: 0, count: cohortSize)
        for (i, phone) in order.enumerated() { position[phone] = i }
        self.position = position
    }

    /// The neighbours of `phone`, in ascending index order (never `phone` itself).
    public func neighbours(of phone: Int) -> [Int] {
        precondition(phone >= 0 && phone < cohortSize, "phone \(phone) is not in 0..<\(cohortSize)")
        if degree >= cohortSize - 1 { return (0..<cohortSize).filter { $0 != phone } }
        let p = position[phone]
        var out: [Int] = []
        out.reserveCapacity(degree)
        for j in 1...(degree / 2) {
            out.append(order[(p + j) % cohortSize])
            out.append(order[(p - j + cohortSize) % cohortSize])
        }
        return out.sorted()
    }

    /// Whether `a` and `b` are neighbours.
    public func areNeighbours(_ a: Int, _ b: Int) -> Bool {
        guard a != b, a >= 0, b >= 0, a < cohortSize, b < cohortSize else { return false }
        if degree >= cohortSize - 1 { return true }
        let d = abs(position[a] - position[b])
        return min(d, cohortSize - d) <= degree / 2
    }
}

/// SplitMix64, kept here so the graph's permutation is pinned by this module's own tests (a
/// change elsewhere must not move every phone's neighbours).
struct ShuffleGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed ^ 0x5EC_A66 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
