import ArgumentParser
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels

/// `kbd-sim eval`: nwp-v1 figures of a model on a corpus's evaluation split.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Train (n-gram) or load a model and print its nwp-v1 accuracy on the evaluation split.",
        discussion: """
            --model knN (N = 1…5) builds an interpolated modified Kneser-Ney N-gram model on the \
            training split; --model FILE loads an ARPA file or a neural model written by \
            kbd-sim train (which carries its own vocabulary). The split's vocabulary is the \
            --vocab most frequent training tokens.

            Examples:
              kbd-sim eval --model kn3 --corpus smsCorpus_en_xml_2015.03.09_all.zip
              kbd-sim eval --model kn4 --corpus my.jsonl --split per-user --vocab 20000 --json
              kbd-sim eval --model kn3 --corpus sms.zip --export-arpa kn3.arpa
              kbd-sim eval --model cifg-small.kbdlm --corpus sms.zip
            """
    )

    @Option(
        name: .long,
        help: ArgumentHelp(
            "kn1 … kn5, or a model file (ARPA, or a neural model from kbd-sim train).", valueName: "model"))
    var model: String

    @OptionGroup var corpus: CorpusOptions

    @OptionGroup var splitOptions: SplitOptions

    @Option(name: .long, help: "Threads for evaluation.")
    var threads: Int = 2

    @Option(name: .long, help: ArgumentHelp("Write the trained n-gram model as an ARPA file.", valueName: "path"))
    var exportArpa: String?

    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1…64 (got \(threads))") }
        _ = try ModelChoice(model)
    }

    func run() throws {
        let (split, vocab) = (splitOptions.split, splitOptions.vocab)
        let choice = try ModelChoice(model)
        let t0 = now()
        let loaded = try corpus.load()
        let t1 = now()
        let data = try splitOptions.encode(loaded)
        let t2 = now()
        let loadedModel: LoadedModel
        switch choice {
        case .kneserNey(let order):
            loadedModel = .nGram(
                try KneserNeyModel(
                    counts: NGramCounts(order: order, messages: data.trainMessages), vocabulary: data.vocabulary))
        case .file(let path):
            loadedModel = try LoadedModel(path: path)
        }
        let t3 = now()
        if let exportArpa {
            guard case .nGram(let kn) = loadedModel else {
                throw ValidationError("--export-arpa needs an n-gram model (kn1 … kn5 or an ARPA file)")
            }
            try kn.writeARPA(to: exportArpa)
        }
        // A loaded model has its own vocabulary: re-encode the evaluation text with it.
        let evalMessages: [[Int32]]
        if loadedModel.vocabulary == data.vocabulary {
            evalMessages = data.evalMessages
        } else {
            let ids = loadedModel.vocabulary.idsByType(of: loaded)
            evalMessages = data.split.evalMessages.map {
                loadedModel.vocabulary.encode(message: $0, of: loaded, idsByType: ids)
            }
        }
        let metrics: NextWordMetrics
        switch loadedModel {
        case .nGram(let kn): metrics = NextWordEvaluator(threads: threads).evaluate(kn, messages: evalMessages)
        case .neural(let neural): metrics = evaluateNeural(neural.model, messages: evalMessages)
        }
        let t4 = now()
        let rate = Double(metrics.predictions) / max(t4 - t3, 1e-9)

        let name = choice.name
        var table = SummaryTable(columns: ["model", "split", "V", "predictions", "acc@1", "acc@3", "acc@1-iv", "ppl"])
        table.append([
            name, split.rawValue, String(vocab), grouped(metrics.predictions), fixed(metrics.accuracyAt1),
            fixed(metrics.accuracyAt3), fixed(metrics.accuracyAt1InVocabulary), fixed(metrics.perplexity, digits: 2),
        ])
        if json {
            printJSON(
                [
                    "model": name, "split": split.rawValue, "V": vocab, "metric": NWPTokenizer.metricVersion,
                    "predictions": metrics.predictions, "predictions-iv": metrics.inVocabularyPredictions,
                    "acc@1": metrics.accuracyAt1, "acc@3": metrics.accuracyAt3,
                    "acc@1-iv": metrics.accuracyAt1InVocabulary, "ppl": metrics.perplexity,
                    "train-users": data.split.trainUserCount, "eval-users": data.split.evalUserCount,
                    "seconds": ["load": t1 - t0, "split+vocab": t2 - t1, "build": t3 - t2, "eval": t4 - t3],
                    "predictions-per-second": rate,
                ] as [String: Any])
        } else {
            print(table.render())
            print("")
            print(
                "train users \(data.split.trainUserCount), eval users \(data.split.evalUserCount), OOV targets \(fixed(metrics.outOfVocabularyRate * 100, digits: 2))% (\(NWPTokenizer.metricVersion))"
            )
            print(
                "load \(fixed(t1 - t0, digits: 3)) s, split+vocab \(fixed(t2 - t1, digits: 3)) s, build \(fixed(t3 - t2, digits: 3)) s, eval \(fixed(t4 - t3, digits: 3)) s (\(grouped(Int(rate))) predictions/s, \(threads) threads)"
            )
        }
    }
}

/// What `--model` names.
enum ModelChoice {
    case kneserNey(order: Int)
    case file(String)

    init(_ text: String) throws {
        if text.hasPrefix("kn"), let n = Int(text.dropFirst(2)) {
            guard (1...5).contains(n) else {
                throw ValidationError("--model \(text): Kneser-Ney orders are kn1 … kn5")
            }
            self = .kneserNey(order: n)
        } else if text.contains("/") || text.contains(".") {
            self = .file(text)
        } else {
            throw ValidationError("--model \(text) is neither kn1 … kn5 nor a model file path")
        }
    }

    var name: String {
        switch self {
        case .kneserNey(let order): "kn\(order)"
        case .file(let path): path
        }
    }
}
