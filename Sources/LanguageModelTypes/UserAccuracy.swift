/// One user's nwp-v1 counts in one evaluation: the predictions made on that user's text and
/// how many of them were hits.
///
/// `user` identifies the user inside the evaluation (the corpus's user index for the server's
/// evaluation, the device id for a federated one); it is never the user's name or text.
public struct UserScore: Sendable, Codable, Equatable {
    public var user: Int
    public var predictions: Int
    public var hitsAt1: Int
    public var hitsAt3: Int

    public init(user: Int, predictions: Int, hitsAt1: Int, hitsAt3: Int) {
        self.user = user
        self.predictions = predictions
        self.hitsAt1 = hitsAt1
        self.hitsAt3 = hitsAt3
    }

    /// A user's counts from their pooled metrics.
    public init(user: Int, metrics: NextWordMetrics) {
        self.init(user: user, predictions: metrics.predictions, hitsAt1: metrics.hitsAt1, hitsAt3: metrics.hitsAt3)
    }

    /// hits@1 / predictions (0 for a user without predictions).
    public var accuracyAt1: Double { predictions > 0 ? Double(hitsAt1) / Double(predictions) : 0 }
    /// hits@3 / predictions.
    public var accuracyAt3: Double { predictions > 0 ? Double(hitsAt3) / Double(predictions) : 0 }
}

/// Which user typed each evaluation message, so one evaluation can be scored per user.
public struct UserGrouping: Sendable, Equatable {
    /// The user of message `i`, in the evaluation's message order.
    public let userOfMessage: [Int32]

    public init(userOfMessage: [Int32]) { self.userOfMessage = userOfMessage }

    /// Per-user counts from per-message metrics (same order as ``userOfMessage``), ascending
    /// by user; users without a prediction are left out.
    public func scores(perMessage: [NextWordMetrics]) -> [UserScore] {
        precondition(perMessage.count == userOfMessage.count, "one metric per evaluation message")
        var byUser: [Int32: UserScore] = [:]
        for (user, m) in zip(userOfMessage, perMessage) where m.predictions > 0 {
            var s = byUser[user] ?? UserScore(user: Int(user), predictions: 0, hitsAt1: 0, hitsAt3: 0)
            s.predictions += m.predictions
            s.hitsAt1 += m.hitsAt1
            s.hitsAt3 += m.hitsAt3
            byUser[user] = s
        }
        return byUser.values.sorted { $0.user < $1.user }
    }
}

/// The distribution of per-user accuracy in one evaluation: the figures a team reads to see
/// whom the model serves badly, beside the pooled (token-weighted) accuracy.
///
/// Definitions (docs/per-user-metrics.md):
/// - `pooled`: Σ hits / Σ predictions over all users, which is the evaluation's pooled acc@k
///   exactly (computed from the integer sums);
/// - `mean`: the unweighted mean of the users' accuracies (every user counts once);
/// - `p10`, `median`, `p90`: quantiles of the users' accuracies with linear interpolation
///   between order statistics (position `(n − 1)·q` of the ascending list, as NumPy's default);
/// - `worstDecile`: the unweighted mean accuracy of the ⌈n/10⌉ users with the lowest acc@1
///   (ties broken by user id);
/// - `shareBelow`: the share of users whose acc@1 is strictly below ``threshold``.
public struct UserAccuracySummary: Sendable, Codable, Equatable {
    /// Quantiles of one figure over users.
    public struct Quantiles: Sendable, Codable, Equatable {
        public var pooled: Double
        public var mean: Double
        public var p10: Double
        public var median: Double
        public var p90: Double
    }

    /// Users with at least one prediction.
    public var users: Int
    public var at1: Quantiles
    public var at3: Quantiles
    /// Mean acc@1 of the worst tenth of users (by acc@1).
    public var worstDecileAt1: Double
    /// The acc@1 below which a user counts as poorly served.
    public var threshold: Double
    /// Share of users with acc@1 < ``threshold``.
    public var shareBelow: Double

    /// The acc@1 threshold used when none is given.
    public static let defaultThreshold = 0.05

    /// Summarizes per-user scores; nil when no user has a prediction.
    public init?(_ scores: [UserScore], threshold: Double = UserAccuracySummary.defaultThreshold) {
        let scored = scores.filter { $0.predictions > 0 }
        guard !scored.isEmpty else { return nil }
        users = scored.count
        self.threshold = threshold
        let predictions = scored.reduce(0) { $0 + $1.predictions }
        let hits1 = scored.reduce(0) { $0 + $1.hitsAt1 }
        let hits3 = scored.reduce(0) { $0 + $1.hitsAt3 }
        at1 = Self.quantiles(scored.map(\.accuracyAt1), pooled: Double(hits1) / Double(predictions))
        at3 = Self.quantiles(scored.map(\.accuracyAt3), pooled: Double(hits3) / Double(predictions))
        let worst = scored.sorted { ($0.accuracyAt1, $0.user) < ($1.accuracyAt1, $1.user) }
            .prefix((scored.count + 9) / 10)
        worstDecileAt1 = worst.reduce(0.0) { $0 + $1.accuracyAt1 } / Double(worst.count)
        shareBelow = Double(scored.filter { $0.accuracyAt1 < threshold }.count) / Double(scored.count)
    }

    static func quantiles(_ values: [Double], pooled: Double) -> Quantiles {
        let sorted = values.sorted()
        return Quantiles(
            pooled: pooled, mean: sorted.reduce(0, +) / Double(sorted.count), p10: quantile(sorted, 0.1),
            median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9))
    }

    /// Linear interpolation between order statistics of an ascending, non-empty list.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let h = Double(sorted.count - 1) * q
        let lower = Int(h.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (h - Double(lower)) * (sorted[upper] - sorted[lower])
    }

    /// The figures under the keys the tables and `--json` use.
    public var dictionary: [String: Double] {
        [
            "users": Double(users), "user mean acc@1": at1.mean, "user p10 acc@1": at1.p10,
            "user median acc@1": at1.median, "user p90 acc@1": at1.p90, "worst decile acc@1": worstDecileAt1,
            "user mean acc@3": at3.mean, "user p10 acc@3": at3.p10, "user median acc@3": at3.median,
            "user p90 acc@3": at3.p90, "share below threshold": shareBelow, "threshold": threshold,
        ]
    }
}
