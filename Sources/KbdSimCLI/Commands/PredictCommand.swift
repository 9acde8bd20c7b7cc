import ArgumentParser
import Foundation
import KeyboardCorpus
import LanguageModels

/// `kbd-sim predict`: the suggestion strip for a text typed so far.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Print the three next-word suggestions a keyboard would show after some text.",
        discussion: """
            The text is tokenized as nwp-v1 does (lower-cased words; punctuation dropped) and \
            taken as one message typed so far; the suggestions are for the next word.

            Example:
              kbd-sim eval --model kn3 --corpus sms.zip --export-arpa kn3.arpa
              kbd-sim predict --model kn3.arpa "see you at the"
              kbd-sim predict --model cifg-small.kbdlm "see you at the"
            """
    )

    @Option(
        name: .long,
        help: ArgumentHelp("A model file: ARPA (n-gram) or a neural model from kbd-sim train.", valueName: "file"))
    var model: String

    @Option(name: .short, help: "How many suggestions.")
    var k: Int = 3

    @Flag(name: .long, help: "Print one JSON document.")
    var json = false

    @Argument(help: "The text typed so far (may be empty).")
    var text: String = ""

    func validate() throws {
        guard (1...100).contains(k) else { throw ValidationError("-k must be 1…100 (got \(k))") }
    }

    func run() throws {
        let loaded = try LoadedModel(path: model)
        let vocabulary = loaded.vocabulary
        let history = NWPTokenizer.tokens(of: text).map { vocabulary.id(of: $0) }
        let ids: [Int32]
        let probabilities: [Double]
        switch loaded {
        case .nGram(let kn):
            let context = [SpecialToken.bos.rawValue] + history
            ids = kn.topK(after: context, k: k)
            probabilities = ids.map { pow10(kn.log10Probability(of: $0, after: context)) }
        case .neural(let neural):
            // Cached recurrent state: one step per word typed.
            let predictor = LSTMPredictor(model: neural.model)
            for id in history { predictor.feed(id) }
            ids = predictor.topK(k)
            probabilities = ids.map { exp(Double(predictor.logProbability(of: $0))) }
        }
        let words = ids.map { vocabulary.symbol(for: $0) }
        if json {
            printJSON(["suggestions": words, "probabilities": probabilities] as [String: Any])
        } else {
            var table = SummaryTable(columns: ["rank", "suggestion", "probability"])
            for (i, w) in words.enumerated() { table.append([String(i + 1), w, fixed(probabilities[i])]) }
            print(table.render())
        }
    }
}

private func pow10(_ x: Double) -> Double { exp(x * 2.302585092994046) }
