import ArgumentParser
import KeyboardCorpus

/// `--split` and `--vocab`: which nwp-v1 split and vocabulary a command evaluates on.
struct SplitOptions: ParsableArguments {
    @Option(name: .long, help: "users (unseen users, the headline) or per-user (personalisation).")
    var split: SplitKind = .users

    @Option(name: .long, help: "Vocabulary size V: the V most frequent training tokens.")
    var vocab: Int = 10_000

    func validate() throws {
        guard vocab >= 1 else {
            throw ValidationError("--vocab must be at least 1 (got \(vocab)); nwp-v1's default is 10000")
        }
        guard vocab <= 1_000_000 else {
            throw ValidationError("--vocab \(vocab) is larger than kbd-sim supports (1,000,000)")
        }
    }

    /// Splits and encodes `corpus` with these options.
    func encode(_ corpus: TokenizedCorpus) throws -> EncodedSplit {
        try EncodedSplit(corpus: corpus, split: split, vocabularySize: vocab)
    }
}
