import FederatedCore
public import FederationProtocol
import KeyboardCorpus

// The attack settings' checks (issue 17), each naming the flag to change.
extension RunConfiguration {
    /// Checks `--attackers`, `--attack`, `--backdoor-trigger` and `--backdoor-target`
    /// (the target's place in the vocabulary is checked when the corpus is loaded).
    public func validateAttack() throws(FederationError) {
        func bad(_ message: String) -> FederationError { FederationError(.invalidConfiguration, message) }
        if let share = attackers {
            guard share.isFinite, share >= 0, share < 1 || (share.rounded() == share && share <= Double(devices))
            else {
                throw bad(
                    "--attackers must be a fraction of the fleet in [0, 1) or a whole number of phones up to --devices \(devices) (got \(share))"
                )
            }
            if share > 0 && attack == nil {
                throw bad("--attackers \(share) needs --attack KIND (\(AttackKind.names.joined(separator: ", ")))")
            }
        }
        if let attack = attack?.value, (attackers ?? 0) > 0 {
            guard case .neural = model else {
                throw bad("--attack works on neural models (a weight delta); \(modelName) uploads n-gram counts")
            }
            if case .adaptive(nil) = attack, chainNormBound == nil {
                throw bad(
                    "--attack adaptive scales to just under the defence's norm bound, and --aggregation has no norm-bound:C; add one or give adaptive:C"
                )
            }
        }
        if let trigger = backdoorTrigger, NWPTokenizer.tokens(of: trigger).isEmpty {
            throw bad(
                "--backdoor-trigger '\(trigger)' tokenizes to nothing (nwp-v1 keeps runs of letters and digits); give words, e.g. \"my password is\""
            )
        }
        if let target = backdoorTarget, NWPTokenizer.tokens(of: target).count != 1 {
            throw bad("--backdoor-target '\(target)' must be one word (got \(NWPTokenizer.tokens(of: target).count))")
        }
        if let attack = attack?.value, attack.poisonsText, (attackers ?? 0) > 0, backdoorTarget == nil {
            throw bad("--attack \(attack) plants a backdoor: give the word with --backdoor-target WORD")
        }
    }
}
