import Foundation
import KeyboardCorpus
import Testing

@testable import LanguageModels

struct ARPATests {
    @Test("export then import gives identical predictions and perplexity", arguments: [1, 2, 3, 5])
    func roundTrip(order: Int) throws {
        let (v, messages) = smallCorpus()
        let model = try KneserNeyModel(
            counts: NGramCounts(order: order, messages: messages.prefix(250).map { $0 }), vocabulary: v)
        let text = model.arpaText()
        let restored = try KneserNeyModel(arpaText: text)
        #expect(restored.vocabulary == model.vocabulary)
        #expect(restored.order == order)
        let held = messages.suffix(50).map { $0 }
        let a = NextWordEvaluator(threads: 1).evaluate(model, messages: held)
        let b = NextWordEvaluator(threads: 1).evaluate(restored, messages: held)
        #expect(a == b)
        for m in held {
            for i in 0...m.count {
                let h = [2] + m.prefix(i)
                #expect(model.topK(after: h, k: 3) == restored.topK(after: h, k: 3))
                for w in [1, 3] + (4..<Int32(v.count)).map({ $0 }) {
                    #expect(model.log10Probability(of: w, after: h) == restored.log10Probability(of: w, after: h))
                }
            }
        }
        #expect(restored.arpaText() == text)
    }

    func expectError(_ code: LanguageModelError.Code, _ text: String) {
        do {
            _ = try KneserNeyModel(arpaText: text, path: "test.arpa")
            Issue.record("expected \(code)")
        } catch let error as LanguageModelError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func malformedFilesAreTypedErrors() throws {
        let (v, messages) = smallCorpus()
        let good = try KneserNeyModel(counts: NGramCounts(order: 2, messages: messages), vocabulary: v).arpaText()
        expectError(.badHeader, "hello\n")
        expectError(.badHeader, "\\data\\\nngram 1=x\n")
        expectError(.badHeader, "\\data\\\n\n\\1-grams:\n")
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false)
        // Truncated in the middle of the bigram section.
        expectError(.truncated, lines.prefix(lines.count - 10).joined(separator: "\n"))
        // Missing \end\.
        expectError(.truncated, good.replacingOccurrences(of: "\\end\\", with: ""))
        // A header that promises more unigrams than the section holds.
        expectError(.truncated, good.replacingOccurrences(of: "ngram 1=", with: "ngram 1=9"))
        expectError(.malformedLine, good.replacingOccurrences(of: "\\2-grams:", with: "\\3-grams:"))
        // A bigram with an unknown word.
        var unknown = lines.map(String.init)
        if let i = unknown.firstIndex(of: "\\2-grams:") { unknown[i + 1] = "-1.0\tzzz w1" }
        expectError(.unknownWord, unknown.joined(separator: "\n"))
        var garbage = lines.map(String.init)
        if let i = garbage.firstIndex(of: "\\1-grams:") { garbage[i + 1] = "not-a-number\tw1" }
        expectError(.malformedLine, garbage.joined(separator: "\n"))
    }
}
