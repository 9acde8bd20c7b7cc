public import ArgumentParser
import Foundation
import KeyboardCorpus

/// `kbd-sim corpus oracle`: the best possible nwp-v1 accuracy on a synthetic corpus.
///
/// Registered in ``CorpusCommand``'s subcommands.
public struct CorpusOracleCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "oracle",
        abstract: "Compute the Bayes-optimal acc@1 and acc@3 of a synthetic corpus (no model can beat them).",
        discussion: """
            Materialises the corpus (users × days from the spec unless overridden), splits it \
            as nwp-v1 does, builds the vocabulary from the training messages, and scores two \
            exact oracles on every evaluation prediction: one that knows each user's topic \
            mixture and personal phrases (the personalisation ceiling) and one that knows only \
            the population (the ceiling of one global model). Definition: docs/fleet.md.

            Examples:
              kbd-sim corpus oracle corpora/synthetic-en.json
              kbd-sim corpus oracle synthetic --users 500 --vocab 10000 --json
            """
    )

    @Argument(
        help: ArgumentHelp("A synthetic spec (JSON path), or 'synthetic' for the built-in default.", valueName: "spec"))
    var spec: String = "synthetic"
    @Option(help: "Users to materialise (default: the spec's).")
    var users: Int?
    @Option(help: "Days per user to materialise (default: the spec's).")
    var days: Int?
    @Option(name: [.customLong("vocab"), .customLong("vocab-size")], help: "Vocabulary size V.")
    var vocabularySize: Int = 10_000
    @Option(help: "Split: users (unseen users) or per-user.")
    var split: String = "users"
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    public init() {}

    public func validate() throws {
        if let users { guard users >= 1 else { throw ValidationError("--users must be at least 1 (got \(users))") } }
        if let days { guard days >= 1 else { throw ValidationError("--days must be at least 1 (got \(days))") } }
        guard vocabularySize >= 1 else { throw ValidationError("--vocab must be at least 1 (got \(vocabularySize))") }
        guard SplitKind(rawValue: split) != nil else {
            throw ValidationError("--split must be users or per-user (got \(split))")
        }
    }

    public func run() async throws {
        let spec: SyntheticSpec
        if let named = try SyntheticSpec.resolve(corpusArgument: self.spec) {
            spec = named
        } else {
            spec = try SyntheticSpec.load(path: self.spec)
        }
        let bench = try SyntheticBenchmark(
            spec: spec, users: users, days: days, split: SplitKind(rawValue: split)!, vocabularySize: vocabularySize,
            source: self.spec)
        let (text, vocabulary, report) = (bench.text, bench.vocabulary, bench.ceiling)
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        if json {
            print(
                """
                {"spec": "\(spec.name)", "users": \(text.userCount), "messages": \(text.messageCount), "tokens": \(text.tokenCount), \
                "split": "\(split)", "vocabularySize": \(vocabulary.words.count), "predictions": \(report.predictions), \
                "inVocabularyTargets": \(report.inVocabularyTargets), \
                "personalised": {"acc1": \(f(report.accuracy(.user, k: 1))), "acc3": \(f(report.accuracy(.user, k: 3))), \
                "expectedAcc1": \(f(report.expectedAccuracy(.user, k: 1))), "expectedAcc3": \(f(report.expectedAccuracy(.user, k: 3)))}, \
                "global": {"acc1": \(f(report.accuracy(.population, k: 1))), "acc3": \(f(report.accuracy(.population, k: 3))), \
                "expectedAcc1": \(f(report.expectedAccuracy(.population, k: 1))), "expectedAcc3": \(f(report.expectedAccuracy(.population, k: 3)))}}
                """)
        } else {
            print(
                "spec \(spec.name): \(text.userCount) users, \(text.messageCount) messages, \(text.tokenCount) tokens; split \(split), V = \(vocabulary.words.count)"
            )
            print(
                "predictions \(report.predictions), in-vocabulary targets \(report.inVocabularyTargets) (\(f(Double(report.inVocabularyTargets) / Double(max(report.predictions, 1)))))"
            )
            print("oracle                    acc@1   acc@3   E[acc@1] E[acc@3]")
            print(
                "personalised (knows θ_u)  \(f(report.accuracy(.user, k: 1)))  \(f(report.accuracy(.user, k: 3)))  \(f(report.expectedAccuracy(.user, k: 1)))   \(f(report.expectedAccuracy(.user, k: 3)))"
            )
            print(
                "global (population only)  \(f(report.accuracy(.population, k: 1)))  \(f(report.accuracy(.population, k: 3)))  \(f(report.expectedAccuracy(.population, k: 1)))   \(f(report.expectedAccuracy(.population, k: 3)))"
            )
        }
    }
}
