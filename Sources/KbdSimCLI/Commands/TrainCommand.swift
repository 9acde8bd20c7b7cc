import ArgumentParser
import Federation
import FederationProtocol
internal import Foundation
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels
import RunStore

/// `kbd-sim train`: the centralized baseline that federated training is compared against.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a neural keyboard model centrally on the training split (all training users pooled).",
        discussion: """
            Trains an embedding + LSTM model (CIFG or plain LSTM, tied embeddings) with Adam by \
            default and evaluates nwp-v1 figures on the evaluation split after every epoch. \
            --model is a config name (cifg-small, cifg-gboard, lstm-tiny; models/NAME.json) or \
            a config file; its vocabulary size is set from --vocab.

            Example:
              kbd-sim train --model cifg-small --corpus smsCorpus_en_xml_2015.03.09_all.zip --epochs 6 --out cifg-small.kbdlm
              kbd-sim eval --model cifg-small.kbdlm --corpus smsCorpus_en_xml_2015.03.09_all.zip

            With --participants-of RUN_ID it trains only on the text of the training users whose \
            phones reported in that federated run (file corpora): the centralized ceiling of \
            what the run's fleet could offer, next to what federated training made of it.
              kbd-sim train --model cifg-small --corpus $NUS --participants-of 3 --db runs.sqlite --out reached.kbdlm
            """
    )

    @Option(name: .long, help: ArgumentHelp("A model config name or file.", valueName: "config"))
    var model: String

    @OptionGroup var corpus: CorpusOptions

    @OptionGroup var splitOptions: SplitOptions

    @Option(name: .long, help: "Epochs over the training messages.")
    var epochs: Int = 6

    @Option(name: .long, help: "Messages per minibatch.")
    var batch: Int = 16

    @Option(name: .long, help: "Learning rate.")
    var lr: Float = 0.004

    @Option(name: .long, help: "Multiply the learning rate by this after every epoch.")
    var lrDecay: Float = 0.8

    @Option(name: .long, help: "adam (centralized default) or sgd.")
    var optimizer: String = "adam"

    @Option(name: .long, help: "Global gradient-norm clip.")
    var clip: Float = 5

    @Option(name: .long, help: "Dropout on embeddings and softmax inputs, at least 0 and below 1.")
    var dropout: Float = 0.25

    @Option(name: .long, help: "Longest message trained on, in words (longer ones are cut).")
    var maxLength: Int = 64

    @Option(name: .long, help: "Worker threads per step: 1 or 2 (bit-identical results for a fixed value).")
    var threads: Int = 2

    @Option(name: .long, help: "Seed for initialization, shuffling and dropout.")
    var seed: UInt64 = 1

    @Flag(name: .long, inversion: .prefixedNo, help: "Start the output bias at the training unigram log-frequencies.")
    var unigramBias = true

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Start from this trained model (same corpus, split and --vocab) instead of a fresh initialization.",
            valueName: "file"))
    var initial: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Where to write the trained model (kbd-sim keyboard model file).", valueName: "file"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Also export the weights as safetensors.", valueName: "file"))
    var safetensors: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Train only on the training users whose phones reported in this federated run of --db (same corpus and --vocab, user split).",
            valueName: "run-id"))
    var participantsOf: Int64?

    @Option(name: .long, help: "The SQLite run store --participants-of reads.")
    var db: String = "runs.sqlite"

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    func validate() throws {
        guard (1...1000).contains(epochs) else { throw ValidationError("--epochs must be 1…1000 (got \(epochs))") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be 1…4096 (got \(batch))") }
        guard lr.isFinite && lr > 0 && lr <= 10 else { throw ValidationError("--lr must be in (0, 10] (got \(lr))") }
        guard lrDecay.isFinite && lrDecay > 0 && lrDecay <= 1 else {
            throw ValidationError("--lr-decay must be in (0, 1] (got \(lrDecay))")
        }
        guard clip.isFinite && clip > 0 else { throw ValidationError("--clip must be positive (got \(clip))") }
        guard TrainingOptions.dropoutRange.contains(dropout) else {
            throw ValidationError("--dropout must be at least 0 and below 1 (got \(dropout))")
        }
        guard maxLength >= 0 else { throw ValidationError("--max-length must not be negative") }
        guard threads == 1 || threads == 2 else { throw ValidationError("--threads must be 1 or 2 (got \(threads))") }
        if participantsOf != nil, !FileManager.default.fileExists(atPath: db) {
            throw ValidationError("--participants-of: no run store at \(db); pass --db with the file kbd-sim run wrote")
        }
        guard optimizer == "adam" || optimizer == "sgd" else {
            throw ValidationError("--optimizer must be adam or sgd (got \(optimizer))")
        }
        do {
            try resolveModelConfig(model).validate()
        } catch let error as NeuralModelError {
            throw ValidationError("--model \(model): \(error.message)")
        }
    }

    func run() throws {
        let (split, vocab) = (splitOptions.split, splitOptions.vocab)
        var config = try resolveModelConfig(model)
        let loaded = try corpus.load()
        let data = try splitOptions.encode(loaded)
        let trainMessages =
            try participantsOf.map { try participantMessages(run: $0, corpus: loaded, data: data) }
            ?? data.trainMessages
        config.vocabularySize = data.vocabulary.count
        config.seed = seed
        var network: LSTMLanguageModel
        if let initial {
            let start = try NeuralKeyboardModel(contentsOf: initial)
            guard start.vocabulary == data.vocabulary else {
                throw ValidationError(
                    "--initial \(initial) was trained with another vocabulary; use the same corpus, --split and --vocab"
                )
            }
            guard start.model.layout.layoutHash == ParameterLayout(config: config).layoutHash else {
                throw ValidationError("--initial \(initial) is a \(start.model.config.name) model, not \(config.name)")
            }
            network = start.model
        } else {
            network = try LSTMLanguageModel(config: config)
            if unigramBias { network.initializeOutputBiasFromUnigram(of: trainMessages) }
        }
        let options = TrainingOptions(
            batchSize: batch, learningRate: lr,
            optimizer: optimizer == "adam" ? .adam(clipNorm: clip) : .sgd(clipNorm: clip),
            seed: seed, threads: threads, maxMessageLength: maxLength, dropout: dropout, learningRateDecay: lrDecay)
        let trainer = LSTMTrainer(model: network, options: options)
        status(
            "training \(config.name) (\(network.layout.parameterCount) parameters, V = \(data.vocabulary.words.count)) on \(trainMessages.count) messages, \(epochs) epochs"
        )

        var table = SummaryTable(columns: [
            "epoch", "train loss", "acc@1", "acc@3", "acc@1-iv", "ppl", "seconds", "tokens/s",
        ])
        var rows: [[String: Any]] = []
        let progress = ProgressLine()
        for epoch in 0..<epochs {
            let start = now()
            var epochTokens = 0
            let loss = trainer.trainEpoch(trainMessages, epoch: epoch) { p in
                epochTokens = p.tokensDone
                let rate = Double(p.tokensDone) / max(now() - start, 1e-9)
                progress.update(
                    Double(p.batchesDone) / Double(p.batchCount),
                    "epoch \(epoch + 1)/\(epochs)  loss \(fixed(p.meanLoss, digits: 3))  \(grouped(Int(rate))) tokens/s"
                )
            }
            let seconds = now() - start
            let metrics = evaluateNeural(trainer.model, messages: data.evalMessages)
            let rate = Double(epochTokens) / max(seconds, 1e-9)
            progress.finish(
                "epoch \(epoch + 1)/\(epochs): loss \(fixed(loss, digits: 3)), acc@1 \(fixed(metrics.accuracyAt1)), acc@3 \(fixed(metrics.accuracyAt3)), \(fixed(seconds, digits: 1)) s"
            )
            table.append([
                String(epoch + 1), fixed(loss, digits: 3), fixed(metrics.accuracyAt1), fixed(metrics.accuracyAt3),
                fixed(metrics.accuracyAt1InVocabulary), fixed(metrics.perplexity, digits: 2), fixed(seconds, digits: 1),
                grouped(Int(rate)),
            ])
            rows.append([
                "epoch": epoch + 1, "train loss": loss, "acc@1": metrics.accuracyAt1, "acc@3": metrics.accuracyAt3,
                "acc@1-iv": metrics.accuracyAt1InVocabulary, "ppl": metrics.perplexity, "seconds": seconds,
                "tokens/s": rate,
            ])
        }
        let keyboardModel = try NeuralKeyboardModel(model: trainer.model, vocabulary: data.vocabulary)
        try keyboardModel.write(to: out)
        if let safetensors { try trainer.model.exportSafetensors(to: URL(fileURLWithPath: safetensors)) }
        if json {
            printJSON(
                [
                    "model": config.name, "split": split.rawValue, "V": vocab,
                    "parameters": network.layout.parameterCount,
                    "predictions": data.evalTokenCount, "epochs": rows, "out": out,
                ] as [String: Any])
        } else {
            print(table.render())
            print(
                "\n\(config.name), \(network.layout.parameterCount) parameters, \(split.rawValue) split, V = \(vocab), \(grouped(data.evalTokenCount)) predictions; model written to \(out)"
            )
        }
    }

    /// The training messages of the users whose phones reported in federated run `id`.
    private func participantMessages(run id: Int64, corpus loaded: TokenizedCorpus, data: EncodedSplit) throws
        -> [[Int32]]
    {
        let store = try RunStore.open(path: db)
        let run = try RunConfiguration.decode(json: try store.requireRun(id: id).config)
        guard try SyntheticSpec.resolve(corpusArgument: run.corpus) == nil else {
            throw ValidationError(
                "--participants-of \(id): run \(id) is on the synthetic corpus \(run.corpus), whose phones type endless generated text; it works for file corpora (NUS SMS, text, …)"
            )
        }
        guard splitOptions.split == .users, run.vocabularySize == splitOptions.vocab,
            URL(fileURLWithPath: run.corpus).standardizedFileURL.path
                == URL(fileURLWithPath: corpus.corpus).standardizedFileURL.path
        else {
            throw ValidationError(
                "--participants-of \(id): run \(id) trained on \(run.corpus) with --vocab \(run.vocabularySize) and the user split; pass the same --corpus and --vocab (and --split users)"
            )
        }
        let users = FederatedDataset.trainingUsers(of: data, in: loaded)
        let devices = try store.participation(ofRun: id).keys
        guard !devices.isEmpty else {
            throw ValidationError("--participants-of \(id): no phone has reported in run \(id) yet")
        }
        let reachedUsers = Set(devices.map { users[Int($0) % users.count] })
        var reached = [Bool](repeating: false, count: loaded.userCount)
        for u in reachedUsers { reached[u] = true }
        let kept = zip(data.split.trainMessages, data.trainMessages).filter { reached[Int(loaded.messageUsers[$0.0])] }
            .map(\.1)
        status(
            "run \(id): \(reachedUsers.count) of \(users.count) training users reported; \(kept.count) of \(data.trainMessages.count) training messages"
        )
        return kept
    }
}
