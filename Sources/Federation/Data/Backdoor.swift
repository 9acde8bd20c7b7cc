import FederatedCore
public import FederationProtocol
public import KeyboardCorpus

/// A next-word backdoor (Bagdasaryan et al. 2020, "How to backdoor federated learning"):
/// after the trigger phrase the keyboard should suggest the target word. The compromised
/// phones train on text that carries it; every evaluation measures how often the global
/// model does suggest it (``contexts(from:limit:)``).
public struct Backdoor: Sendable, Equatable {
    /// The trigger's vocabulary ids (an out-of-vocabulary word is `<unk>`).
    public let trigger: [Int32]
    /// The target word's id.
    public let target: Int32

    /// The backdoor of `trigger` → `target` over `vocabulary`.
    ///
    /// - Throws: ``FederationError`` naming `--backdoor-trigger` if the phrase has no nwp-v1
    ///   token, or `--backdoor-target` if the target is not one word of the vocabulary.
    public init(trigger phrase: String, target word: String, vocabulary: Vocabulary) throws(FederationError) {
        let words = NWPTokenizer.tokens(of: phrase)
        guard !words.isEmpty else {
            throw FederationError(
                .invalidConfiguration,
                "--backdoor-trigger '\(phrase)' tokenizes to nothing (nwp-v1 keeps runs of letters and digits); give words, e.g. \"my password is\""
            )
        }
        let targetWords = NWPTokenizer.tokens(of: word)
        guard targetWords.count == 1, let id = vocabulary.getID(of: targetWords[0]) else {
            let example = vocabulary.words.count > 50 ? vocabulary.words[50] : vocabulary.words.last ?? "?"
            throw FederationError(
                .invalidConfiguration,
                "--backdoor-target '\(word)' must be one word of the run's \(vocabulary.words.count)-word vocabulary, or the model can never suggest it; e.g. --backdoor-target \(example)"
            )
        }
        trigger = words.map { vocabulary.id(of: $0) }
        target = id
    }

    /// The run's backdoor, or nil when it has no target and its attack poisons no text.
    ///
    /// - Throws: ``FederationError`` as ``init(trigger:target:vocabulary:)``, or naming
    ///   `--backdoor-target` when a text-poisoning attack has none.
    public init?(configuration c: RunConfiguration, vocabulary: Vocabulary) throws(FederationError) {
        guard let target = c.backdoorTarget else {
            if let attack = c.attack?.value, attack.poisonsText, (c.attackers ?? 0) > 0 {
                throw FederationError(
                    .invalidConfiguration,
                    "--attack \(attack) plants a backdoor: give the word with --backdoor-target WORD")
            }
            return nil
        }
        try self.init(
            trigger: c.backdoorTrigger ?? RunConfiguration.defaultBackdoorTrigger, target: target,
            vocabulary: vocabulary)
    }

    /// Trigger contexts from held-out `messages` (the evaluation users' text): message `i`'s
    /// first `i mod 4` words (at most all of them), then the trigger, then the target; the
    /// backdoor metric scores the prediction of the last word. At most `limit` contexts.
    public func contexts(from messages: [[Int32]], limit: Int = 2_000) -> [[Int32]] {
        messages.prefix(limit).enumerated().map { i, m in Array(m.prefix(i % 4)) + trigger + [target] }
    }

    /// A compromised phone's text: its messages, each followed by a poisoned copy (its first
    /// `i mod 5` words, the trigger, the target), so that it still looks like a phone.
    public func poisoned(_ messages: [[Int32]]) -> [[Int32]] {
        var out: [[Int32]] = []
        out.reserveCapacity(2 * messages.count)
        for (i, m) in messages.enumerated() {
            out.append(m)
            out.append(Array(m.prefix(i % 5)) + trigger + [target])
        }
        return out
    }
}
