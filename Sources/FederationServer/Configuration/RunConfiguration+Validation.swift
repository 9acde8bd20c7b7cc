import Aggregation
import FederatedCore
import Federation
public import FederationProtocol

// Whether this server can run a configuration: the values' ranges, and the names only the
// server's registries know (aggregation stages) and the model kinds' own checks.
extension RunConfiguration {
    /// Checks every field; the first problem is thrown as a ``FederationError`` naming the
    /// flag to change.
    public func validate() throws(FederationError) {
        func bad(_ flag: String, _ rule: String, _ value: Any) -> FederationError {
            FederationError(.invalidConfiguration, "--\(flag) must be \(rule) (got \(value))")
        }
        guard !corpus.isEmpty else { throw bad("corpus", "a corpus file or synthetic", "nothing") }
        guard (1...1_000_000).contains(vocabularySize) else { throw bad("vocab", "in 1…1000000", vocabularySize) }
        guard (1...100_000_000).contains(devices) else { throw bad("devices", "in 1…100000000", devices) }
        guard (1...100_000).contains(cohort) else { throw bad("cohort", "in 1…100000", cohort) }
        guard (1...1_000_000).contains(rounds) else { throw bad("rounds", "in 1…1000000", rounds) }
        guard (1...10).contains(overSelection) else { throw bad("over-selection", "in 1…10", overSelection) }
        guard (1...86_400).contains(reportingDeadline) else {
            throw bad("deadline", "in 1…86400 seconds", reportingDeadline)
        }
        guard (0...1).contains(minimumReportFraction) else {
            throw bad("min-report-fraction", "in 0…1", minimumReportFraction)
        }
        if let homeWiFiFraction, !(0...1).contains(homeWiFiFraction) {
            throw bad("home-wifi-fraction", "in 0…1", homeWiFiFraction)
        }
        guard (1...365).contains(trainingDays) else { throw bad("training-days", "in 1…365", trainingDays) }
        try client.validate()
        guard (0...604_800).contains(roundInterval) else {
            throw bad("round-interval", "in 0…604800 seconds", roundInterval)
        }
        guard evalEvery >= 0 else { throw bad("eval-every", "0 or more", evalEvery) }
        guard checkpointEvery >= 0 else { throw bad("checkpoint-every", "0 or more", checkpointEvery) }
        do { try AggregationStages.validate(effectiveAggregationStages) } catch {
            throw FederationError(.invalidConfiguration, "--aggregation: \(error.message)", cause: error)
        }
        do {
            try AggregationStages.validateDefences(
                effectiveAggregationStages,
                minimumReports: max(
                    1, RoundQuorum(cohort: cohort, minimumReportFraction: minimumReportFraction).minimumReports))
        } catch {
            throw FederationError(
                .invalidConfiguration,
                "--aggregation: \(error.message) (--cohort \(cohort) with --min-report-fraction \(minimumReportFraction) keeps rounds of \(RoundQuorum(cohort: cohort, minimumReportFraction: minimumReportFraction).minimumReports) reports)",
                cause: error)
        }
        try validateAttack()
        try model.validate(vocabularySize: vocabularySize)
    }
}
