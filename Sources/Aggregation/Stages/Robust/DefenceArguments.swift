/// Reads a defence stage's argument: `0.1`, `beta=0.1`, `f=2,m=5`, `1.0,sigma=0.01`. A bare
/// number is the stage's first setting.
enum DefenceArguments {
    /// The settings in `argument` by name; a bare number goes to `positional`. Every name must
    /// be in `allowed`.
    static func parse(_ argument: String?, stage: String, positional: String, allowed: [String])
        throws(AggregationError) -> [String: Double]
    {
        guard let argument, !argument.isEmpty else { return [:] }
        var settings: [String: Double] = [:]
        for item in argument.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            let (key, text) = parts.count == 2 ? (parts[0].lowercased(), parts[1]) : (positional, parts.first ?? "")
            guard allowed.contains(key) else {
                throw AggregationError(
                    .invalidStage,
                    "\(stage):\(argument): '\(key)' is not a setting of \(stage); it takes \(allowed.joined(separator: ", "))"
                )
            }
            guard let value = Double(text), value.isFinite else {
                throw AggregationError(.invalidStage, "\(stage):\(argument): \(key) must be a number (got '\(text)')")
            }
            guard settings.updateValue(value, forKey: key) == nil else {
                throw AggregationError(.invalidStage, "\(stage):\(argument): \(key) is given twice")
            }
        }
        return settings
    }

    /// `value` as a whole number ≥ `minimum`, or an error naming `stage:argument` and `key`.
    static func count(_ value: Double, _ key: String, stage: String, argument: String?, minimum: Int)
        throws(AggregationError) -> Int
    {
        guard value.rounded() == value, value >= Double(minimum), value <= 1_000_000 else {
            throw AggregationError(
                .invalidStage,
                "\(stage):\(argument ?? ""): \(key) must be a whole number ≥ \(minimum) (got \(value))")
        }
        return Int(value)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
