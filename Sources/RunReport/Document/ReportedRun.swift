internal import Foundation
public import RunStore

/// One run as a report shows it: its record, rounds and server evaluations, and the
/// figures derived from them.
public struct ReportedRun: Sendable {
    /// The run's row.
    public let record: RunRecord
    /// Its committed rounds, in order.
    public let rounds: [RoundRecord]
    /// Its evaluations by the server on the evaluation users, in round order.
    public let serverEvaluations: [EvaluationRecord]
    /// Every field of the stored configuration JSON, flattened to dotted keys
    /// (`model.neural._0.hidden`) with JSON-formatted values, sorted by key.
    public let configurationFields: [(key: String, value: String)]
    /// ε after each committed round of a run with differential privacy (its stored
    /// `privacy` stage reports), by round; empty for a run without DP.
    public let epsilonByRound: [Int: Double]
    /// The backdoor's success at each evaluated round of a run with a backdoor target
    /// (`backdoor@1`, `backdoor@3`), in round order; empty otherwise.
    public let backdoorEvaluations: [BackdoorEvaluationRecord]
    /// At the last evaluated round with per-user counts: that round, each evaluation user's
    /// acc@1 (ascending), and after on-phone personalization if the run personalizes.
    public let finalUserAccuracy: (round: Int, global: [Double], personalized: [Double])?

    /// Builds a run's view from what the store holds.
    public init(
        record: RunRecord, rounds: [RoundRecord], evaluations: [EvaluationRecord],
        stageReports: [StageReportRecord] = [], backdoorEvaluations: [BackdoorEvaluationRecord] = [],
        userEvaluations: [UserEvaluationRecord] = []
    ) {
        let headline = userEvaluations.filter { $0.split == "users" || $0.split == "per-user" }
        if let last = headline.map(\.round).max() {
            func accuracies(_ rows: [UserEvaluationRecord]) -> [Double] {
                rows.filter { $0.predictions > 0 }.map { Double($0.hits1) / Double($0.predictions) }.sorted()
            }
            finalUserAccuracy = (
                last, accuracies(headline.filter { $0.round == last }),
                accuracies(userEvaluations.filter { $0.round == last && $0.split == "personalized" })
            )
        } else {
            finalUserAccuracy = nil
        }
        self.backdoorEvaluations = backdoorEvaluations
        var epsilons: [Int: Double] = [:]
        for report in stageReports where report.stage == "privacy" {
            if let object = try? JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any],
                let epsilon = object["epsilon"] as? Double
            {
                epsilons[report.round] = epsilon
            }
        }
        epsilonByRound = epsilons
        self.record = record
        self.rounds = rounds
        serverEvaluations = evaluations.filter(\.isHeadline)
        configurationFields = Self.flatten(configuration: record.config)
    }

    /// The run id.
    public var id: Int64 { record.id ?? 0 }

    /// Whether the run trains a Kneser-Ney model by n-gram count updates (its stored codec
    /// then only names the default and encodes nothing).
    public var isNGram: Bool {
        configurationFields.contains { $0.key.hasPrefix("model.ngram") }
            || (record.model.hasPrefix("kn") && Int(record.model.dropFirst(2)) != nil)
    }

    /// What the devices upload: the codec scheme, or `n-gram counts`.
    public var uploadLabel: String { isNGram ? "n-gram counts" : "codec \(record.codec)" }

    /// The legend label: run id, model, upload, seed, and the corpus when asked.
    public func label(showingCorpus: Bool) -> String {
        var parts = ["run \(id)", record.model, uploadLabel, "seed \(record.seed)"]
        if showingCorpus { parts.append("corpus \(record.corpus)") }
        return parts.joined(separator: " · ")
    }

    /// Rounds the configuration asks for, if it can be read.
    public var plannedRounds: Int? {
        configurationFields.first { $0.key == "rounds" }.flatMap { Int($0.value) }
    }

    /// Update bytes received over all rounds.
    public var bytesUp: Int64 { rounds.reduce(0) { $0 + $1.bytesUp } }
    /// Model bytes sent over all rounds.
    public var bytesDown: Int64 { rounds.reduce(0) { $0 + $1.bytesDown } }
    /// Reports aggregated over all rounds.
    public var reportedDevices: Int { rounds.reduce(0) { $0 + $1.reported } }
    /// Rounds abandoned for too few reports.
    public var abandonedRounds: [Int] { rounds.filter(\.abandoned).map(\.number) }

    /// The newest server evaluation, if any.
    public var finalEvaluation: EvaluationRecord? { serverEvaluations.last }

    /// Rounds that recorded their reporting devices' local hours (schema v3 and later).
    public var roundsWithLocalHours: Int { rounds.filter { $0.reportingLocalHours != nil }.count }

    /// Reporting devices by local hour of day (0…23), summed over the rounds that recorded
    /// them; nil if none did.
    public var localHourTotals: [Int]? {
        let recorded = rounds.compactMap(\.reportingLocalHours)
        guard !recorded.isEmpty else { return nil }
        var totals = [Int](repeating: 0, count: 24)
        for hours in recorded { for (hour, count) in hours.prefix(24).enumerated() { totals[hour] += count } }
        return totals
    }

    /// Megabytes (10⁶ bytes) uploaded through each round, keyed by round number.
    public var cumulativeMegabytesUp: [Int: Double] {
        var total: Int64 = 0
        var result: [Int: Double] = [:]
        for r in rounds {
            total += r.bytesUp
            result[r.number] = Double(total) / 1e6
        }
        return result
    }

    static func flatten(configuration json: String) -> [(key: String, value: String)] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else {
            return [("(unreadable configuration)", json)]
        }
        var fields: [(key: String, value: String)] = []
        func visit(_ value: Any, path: String) {
            if let dictionary = value as? [String: Any], !dictionary.isEmpty {
                for key in dictionary.keys.sorted() {
                    visit(dictionary[key]!, path: path.isEmpty ? key : path + "." + key)
                }
            } else if let string = value as? String {
                fields.append((path, string))
            } else {
                let data = try? JSONSerialization.data(
                    withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
                fields.append((path, data.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"))
            }
        }
        visit(object, path: "")
        return fields.sorted { $0.key < $1.key }
    }
}
