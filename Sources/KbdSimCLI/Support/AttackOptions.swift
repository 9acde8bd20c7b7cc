import ArgumentParser
import FederatedCore
import Federation
import FederationProtocol
import FederationServer

/// `kbd-sim run`'s attacker flags (issue 17): which phones are compromised, what they do,
/// and the backdoor they plant.
struct AttackOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Compromised phones: a fraction of the fleet in [0, 1) (0.1) or a count (5); fixed by --seed when the fleet is made.",
            valueName: "fraction|count"))
    var attackers: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "What compromised phones do: backdoor (poisoned text), boost[:FACTOR] (backdoor, delta × FACTOR, default 10), sign-flip, gaussian:σ (noise instead of the delta), adaptive[:C] (backdoor, delta scaled to 99% of the norm bound).",
            valueName: "kind"),
        transform: { try ParsedSetting.parse($0, flag: "--attack") })
    var attack: ParsedSetting<AttackKind>?

    @Option(name: .long, help: "The backdoor's trigger phrase (default \"my password is\").")
    var backdoorTrigger: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The word the backdoor wants suggested after the trigger; every evaluation then also reports backdoor@1 and backdoor@3.",
            valueName: "word"))
    var backdoorTarget: String?

    /// Sets the attack fields of `c` and checks them (a bad one is a `ValidationError`, exit 64).
    func apply(to c: inout RunConfiguration) throws {
        c.attackers = attackers
        c.attack = attack
        c.backdoorTrigger = backdoorTrigger
        c.backdoorTarget = backdoorTarget
        do { try c.validate() } catch { throw ValidationError(error.message) }
    }

    /// Checks the backdoor against the run's vocabulary, before anything is stored.
    static func checkBackdoor(_ c: RunConfiguration, vocabulary: FederatedDataset) throws {
        do { _ = try Backdoor(configuration: c, vocabulary: vocabulary.vocabulary) } catch {
            throw ValidationError(error.message)
        }
    }
}
