public import ArgumentParser
public import KeyboardCorpus

/// `--corpus`, `--format` and `--no-cache`, shared by every command that reads text.
struct CorpusOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A corpus file or folder (NUS SMS zip/XML, tiny Shakespeare, .txt, .tsv, .jsonl), or synthetic[:SPEC].",
            valueName: "path"))
    var corpus: String

    @Option(
        name: .long,
        help:
            "Force the corpus format instead of detecting it: \(CorpusFormat.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var format: CorpusFormat?

    @Flag(name: .long, help: "Read the source again instead of the tokenized-corpus cache (~/.cache/kbd-sim).")
    var noCache = false

    func validate() throws {
        if corpus.isEmpty { throw ValidationError("--corpus must not be empty; pass a corpus file or synthetic") }
    }

    /// Loads the corpus (from the tokenized-corpus cache when it can).
    func load() throws -> TokenizedCorpus {
        try CorpusLoader(usesCache: !noCache).load(path: corpus, format: format)
    }
}

extension CorpusFormat: ExpressibleByArgument {}
extension SplitKind: ExpressibleByArgument {}
