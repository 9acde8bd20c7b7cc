/// The rule that keeps or abandons a round, in one place for the fleet's simulation and the
/// server: a round is kept when at least `⌈cohort · minimumReportFraction⌉` reports arrived,
/// and never with none (a round nobody reported to has nothing to aggregate, even when the
/// minimum fraction is 0).
public struct RoundQuorum: Sendable, Equatable {
    /// The fewest reports that keep a round (0 allowed; an empty round is abandoned anyway).
    public let minimumReports: Int

    /// The quorum for `cohort` wanted reports and a minimum fraction in `0…1`.
    public init(cohort: Int, minimumReportFraction: Double) {
        minimumReports = Int((Double(cohort) * minimumReportFraction).rounded(.up))
    }

    /// The quorum of `minimumReports` reports.
    public init(minimumReports: Int) {
        precondition(minimumReports >= 0, "a quorum cannot be negative")
        self.minimumReports = minimumReports
    }

    /// Whether a round with `reports` reports is abandoned.
    public func isAbandoned(reports: Int) -> Bool { reports == 0 || reports < minimumReports }
}
