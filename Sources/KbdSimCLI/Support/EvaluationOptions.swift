import ArgumentParser
import FederationProtocol
import LanguageModelTypes

/// `kbd-sim run`'s per-user evaluation, personalization, FedProx and regression-guard flags
/// (also in `bench quant`): issue 18.
struct EvaluationOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The nwp-v1 split of a corpus file: users (unseen users evaluate) or per-user (each user's first 80% of messages train, the rest evaluate).",
            valueName: "split"))
    var split: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Per-user figures: the acc@1 below which a user counts as poorly served (default 0.05).",
            valueName: "acc"))
    var userThreshold: Double?

    @Flag(
        name: .long,
        help:
            "At every evaluation, also personalize on each evaluation user's phone: fine-tune the global model on the user's first 80% of messages (neural) or interpolate a model of them (n-gram), score on the rest."
    )
    var personalize = false

    @Option(name: .long, help: "Personalization: local epochs of fine-tuning.")
    var personalizeEpochs: Int = 1

    @Option(name: .long, help: "Personalization: the fine-tuning SGD learning rate (> 0).")
    var personalizeLr: Float = 0.1

    @Option(name: .long, help: "Personalization: the fine-tuning minibatch size in messages.")
    var personalizeBatch: Int = 8

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Personalization of an n-gram model: the user model's weight λ in [0, 1], or auto to pick it on held-out training text.",
            valueName: "λ|auto"))
    var userLambda: String = "auto"

    @Option(
        name: .customLong("fedprox-mu"),
        help: ArgumentHelp(
            "FedProx (Li et al. 2020): the proximal weight μ of local training (0: FedAvg).", valueName: "μ"))
    var fedproxMu: Float?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "An evaluated round whose acc@1 is more than this below the best so far is flagged as a regression (default 0.01).",
            valueName: "drop"))
    var regressionThreshold: Double?

    @Flag(
        name: .long,
        help: "On a regression, restore the best round's checkpoint (model and server-optimizer state) and go on.")
    var rollbackOnRegression = false

    func validate() throws {
        guard userLambda == "auto" || Double(userLambda) != nil else {
            throw ValidationError("--user-lambda must be a number in [0, 1] or auto (got '\(userLambda)')")
        }
        if !personalize {
            for (flag, set) in [
                ("--personalize-epochs", personalizeEpochs != 1), ("--personalize-lr", personalizeLr != 0.1),
                ("--personalize-batch", personalizeBatch != 8), ("--user-lambda", userLambda != "auto"),
            ] where set {
                throw ValidationError("\(flag) sets up personalization; add --personalize")
            }
        }
    }

    /// Writes these settings into `c` (validated with the rest of the configuration).
    func apply(to c: inout RunConfiguration) {
        c.split = split
        c.userThreshold = userThreshold
        if personalize {
            c.personalization = PersonalizationConfiguration(
                epochs: personalizeEpochs, learningRate: personalizeLr, batchSize: personalizeBatch,
                lambda: Double(userLambda))
        }
        if let fedproxMu, fedproxMu != 0 || fedproxMu.isNaN { c.client.proximalMu = fedproxMu }
        if regressionThreshold != nil || rollbackOnRegression {
            c.regressionGuard = RegressionGuard(
                threshold: regressionThreshold ?? RegressionGuard.defaultThreshold, rollback: rollbackOnRegression)
        }
    }
}
