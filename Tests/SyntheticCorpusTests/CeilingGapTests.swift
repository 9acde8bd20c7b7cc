import Foundation
import KeyboardCorpus
import Testing

/// How close simple count models come to the global ceiling on ample text. Slow: runs only
/// with `KBD_SIM_LONG=1` (use `swift test -c release`).
struct CeilingGapTests {
    @Test(
        "trigram counts with back-off approach the global ceiling on ample text and stay below it",
        .enabled(if: ProcessInfo.processInfo.environment["KBD_SIM_LONG"] != nil)
    )
    func gap() throws {
        var spec = SyntheticSpec.english
        spec.users = Int(ProcessInfo.processInfo.environment["KBD_SIM_USERS"] ?? "") ?? 3000
        spec.days = 14
        let bench = try SyntheticBenchmark(spec: spec)
        let (text, split, vocabulary, report) = (bench.text, bench.split, bench.vocabulary, bench.ceiling)
        let ids = vocabulary.idsByType(of: text)
        var trigram: [Int64: [Int32: Int]] = [:]
        var bigram: [Int64: [Int32: Int]] = [:]
        var unigram = [Int](repeating: 0, count: vocabulary.count)
        for m in split.trainMessages {
            var p2 = SpecialToken.bos.rawValue
            var p1 = SpecialToken.bos.rawValue
            for t in text.tokens(ofMessage: m) {
                let id = ids[Int(t)]
                if id >= SpecialToken.firstWordID {
                    trigram[Int64(p2) << 32 | Int64(p1), default: [:]][id, default: 0] += 1
                    bigram[Int64(p1), default: [:]][id, default: 0] += 1
                    unigram[Int(id)] += 1
                }
                p2 = p1
                p1 = id
            }
        }
        let fallback = Int32(unigram.indices.max { unigram[$0] < unigram[$1] }!)
        func best(_ table: [Int32: Int]?) -> Int32? {
            table?.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
        }
        var hits3gram = 0
        var hits2gram = 0
        for m in split.evalMessages {
            var p2 = SpecialToken.bos.rawValue
            var p1 = SpecialToken.bos.rawValue
            for t in text.tokens(ofMessage: m) {
                let id = ids[Int(t)]
                let g3 = best(trigram[Int64(p2) << 32 | Int64(p1)]) ?? best(bigram[Int64(p1)]) ?? fallback
                let g2 = best(bigram[Int64(p1)]) ?? fallback
                if id >= SpecialToken.firstWordID {
                    if g3 == id { hits3gram += 1 }
                    if g2 == id { hits2gram += 1 }
                }
                p2 = p1
                p1 = id
            }
        }
        let n = Double(report.predictions)
        let global = report.accuracy(.population, k: 1)
        print(
            "predictions \(report.predictions); acc@1: bigram \(Double(hits2gram) / n), trigram \(Double(hits3gram) / n), global ceiling \(global), personalised \(report.accuracy(.user, k: 1))"
        )
        #expect(Double(hits3gram) / n < global)
        #expect(Double(hits2gram) / n < global)
    }
}
