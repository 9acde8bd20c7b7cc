import Foundation
import KeyboardCorpus
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func loadTinySpec() throws -> SyntheticSpec {
    try SyntheticSpec.load(path: repositoryRoot.appendingPathComponent("corpora/synthetic-tiny.json").path)
}

struct SyntheticSpecTests {
    @Test("corpora/synthetic-en.json mirrors the built-in default")
    func fileMirrorsBuiltIn() throws {
        let spec = try SyntheticSpec.load(path: repositoryRoot.appendingPathComponent("corpora/synthetic-en.json").path)
        #expect(spec == SyntheticSpec.english)
        try SyntheticSpec.english.validate()
    }

    @Test("the JSON encoding round-trips")
    func roundTrip() throws {
        let spec = try loadTinySpec()
        let again = try SyntheticSpec.decode(json: Array(spec.encodedJSON().utf8))
        #expect(again == spec)
    }

    @Test(
        "bad specs are rejected with a clear error",
        arguments: [
            (#"{"users": 0}"#, "users"),
            (#"{"users": -3}"#, "users"),
            (#"{"vocabularySize": 1}"#, "vocabularySize"),
            (#"{"topics": 0}"#, "topics"),
            (#"{"backoffProbability": 1.5}"#, "backoffProbability"),
            (#"{"minCollocationLength": 3, "maxCollocationLength": 2}"#, "maxCollocationLength"),
            (#"{"personalPhrases": 0, "personalPhraseProbability": 0.2}"#, "personalPhraseProbability"),
            (#"{"topicz": 3}"#, "topicz"),
            (#"{"topics": "many"}"#, "topics"),
            (#"{"topics": 3"#, "JSON"),
        ]
    )
    func badSpec(json: String, mentions: String) throws {
        let error = try #require(throws: CorpusError.self) {
            try SyntheticSpec.decode(json: Array(json.utf8), path: "x.json")
        }
        #expect(error.code == .invalidSpec)
        #expect(error.message.contains(mentions))
    }

    @Test("a missing spec file is fileNotFound")
    func missingFile() throws {
        let error = try #require(throws: CorpusError.self) { try SyntheticSpec.load(path: "/nonexistent/spec.json") }
        #expect(error.code == .fileNotFound)
    }
}

struct SyntheticCorpusTests {
    @Test("words are distinct, letters only, and single nwp-v1 tokens")
    func words() {
        var seen = Set<String>()
        for i in 0..<20_000 {
            let w = SyntheticCorpus.spell(i)
            #expect(seen.insert(w).inserted)
            #expect(w.utf8.allSatisfy { $0 >= 0x61 && $0 <= 0x7A })
            if i % 997 == 0 { #expect(NWPTokenizer.tokens(of: w) == [w]) }
        }
        #expect(SyntheticCorpus.spell(0).count == 2)
        #expect(SyntheticCorpus.spell(80).count == 4)
    }

    @Test("messages are deterministic in (seed, user, day)")
    func determinism() throws {
        let a = try SyntheticCorpus(spec: .english)
        let b = try SyntheticCorpus(spec: .english)
        #expect(a.messages(user: 42, day: 3) == b.messages(user: 42, day: 3))
        #expect(a.messages(user: 42, day: 3) != a.messages(user: 42, day: 4))
        #expect(a.messages(user: 41, day: 3) != a.messages(user: 42, day: 3))
        var other = SyntheticSpec.english
        other.seed += 1
        #expect(try SyntheticCorpus(spec: other).messages(user: 42, day: 3) != a.messages(user: 42, day: 3))
        #expect(
            a.recentMessages(user: 42, before: 5, days: 2) == a.messages(user: 42, day: 3)
                + a.messages(user: 42, day: 4))
    }

    @Test("materialised corpora have sortable user ids and the spec's size")
    func materialize() throws {
        let corpus = try SyntheticCorpus(spec: loadTinySpec())
        let text = try corpus.materialize()
        #expect(text.userCount <= 40)
        #expect(text.userIDs.first == "u0000000")
        #expect(SyntheticCorpus.userIndex(ofID: "u0000042") == 42)
        #expect(try corpus.materialize().fingerprint() == text.fingerprint())
        #expect(text.provenance.format == "synthetic")
        #expect(throws: CorpusError.self) { try corpus.materialize(users: 0) }
        #expect(throws: CorpusError.self) { try corpus.materialize(days: -1) }
    }

    @Test("the default corpus meets real OOV with a 10,000-word vocabulary")
    func defaultHasOOV() throws {
        let corpus = SyntheticCorpus.english()
        let text = try corpus.materialize(users: 200, days: 7)
        let split = try CorpusSplit(.users, of: text)
        let vocabulary = try Vocabulary(countingMessages: split.trainMessages, of: text, size: 10_000)
        let ids = vocabulary.idsByType(of: text)
        var oov = 0
        var total = 0
        for m in split.evalMessages {
            for t in text.tokens(ofMessage: m) {
                total += 1
                if ids[Int(t)] == SpecialToken.unk.rawValue { oov += 1 }
            }
        }
        let rate = Double(oov) / Double(total)
        #expect(rate > 0.005 && rate < 0.2, "OOV rate \(rate)")
    }
}
