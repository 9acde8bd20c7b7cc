import ArgumentParser
import KeyboardCorpus

/// `kbd-sim corpus`: look at a corpus before training on it.
struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Inspect corpora: sizes, splits, vocabulary coverage.",
        subcommands: [CorpusStatsCommand.self, CorpusOracleCommand.self]
    )
}

/// `kbd-sim corpus stats SOURCE`.
struct CorpusStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print users, messages, tokens, distinct tokens and the evaluation split's OOV rate.",
        discussion: """
            Also prints the nwp-v1 corpus and vocabulary fingerprints (SHA-256), which any \
            implementation of the contract reproduces exactly.

            Example:
              kbd-sim corpus stats smsCorpus_en_xml_2015.03.09_all.zip
            """
    )

    @Argument(help: ArgumentHelp("A corpus file or folder, or synthetic[:SPEC].", valueName: "source"))
    var source: String

    @Option(name: .long, help: "Force the corpus format instead of detecting it.")
    var format: CorpusFormat?

    @OptionGroup var splitOptions: SplitOptions

    @Flag(name: .long, help: "Read the source again instead of the tokenized-corpus cache.")
    var noCache = false

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    func run() throws {
        let split = splitOptions.split
        let start = now()
        let corpus = try CorpusLoader(usesCache: !noCache).load(path: source, format: format)
        let loadSeconds = now() - start
        let data = try splitOptions.encode(corpus)
        let evalTokens = data.evalTokenCount
        let oov = evalTokens > 0 ? Double(evalTokens - data.evalInVocabularyCount) / Double(evalTokens) : 0
        let p = corpus.provenance
        let rows: [(String, String)] = [
            ("format", p.format),
            ("messages read", grouped(p.messagesRead)),
            ("empty messages", grouped(p.emptyMessages)),
            ("users", grouped(corpus.userCount)),
            ("messages", grouped(corpus.messageCount)),
            ("tokens", grouped(corpus.tokenCount)),
            ("distinct tokens", grouped(corpus.types.count)),
            ("split", split.rawValue),
            ("train users", grouped(data.split.trainUserCount)),
            ("eval users", grouped(data.split.evalUserCount)),
            ("train messages", grouped(data.trainMessages.count)),
            ("eval messages", grouped(data.evalMessages.count)),
            ("predictions", grouped(evalTokens)),
            ("predictions-iv", grouped(data.evalInVocabularyCount)),
            ("V", grouped(data.vocabulary.words.count)),
            ("oov rate", fixed(oov * 100, digits: 2) + "%"),
            ("corpus fingerprint", corpus.fingerprint()),
            ("vocabulary fingerprint", data.vocabulary.fingerprint()),
        ]
        if json {
            printJSON(
                [
                    "format": p.format, "messages read": p.messagesRead, "empty messages": p.emptyMessages,
                    "users": corpus.userCount, "messages": corpus.messageCount, "tokens": corpus.tokenCount,
                    "distinct tokens": corpus.types.count, "split": split.rawValue,
                    "train users": data.split.trainUserCount, "eval users": data.split.evalUserCount,
                    "train messages": data.trainMessages.count, "eval messages": data.evalMessages.count,
                    "predictions": evalTokens, "predictions-iv": data.evalInVocabularyCount,
                    "V": data.vocabulary.words.count, "oov rate": oov,
                    "corpus fingerprint": corpus.fingerprint(), "vocabulary fingerprint": data.vocabulary.fingerprint(),
                    "metric": NWPTokenizer.metricVersion, "load seconds": loadSeconds,
                ] as [String: Any])
        } else {
            var table = SummaryTable(columns: ["statistic", "value"])
            for (k, v) in rows { table.append([k, v]) }
            print(table.render())
            print("\nmetric \(NWPTokenizer.metricVersion); loaded in \(fixed(loadSeconds, digits: 3)) s")
        }
    }
}
