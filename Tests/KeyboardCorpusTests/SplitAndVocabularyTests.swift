import Testing

@testable import KeyboardCorpus

func corpus(_ messages: [(String, String)]) -> TokenizedCorpus {
    var builder = TokenizedCorpusBuilder(format: "test", source: "test")
    for (user, text) in messages { builder.appendMessage(user: user, text: text) }
    return builder.build()
}

struct SplitAndVocabularyTests {
    @Test func emptyMessagesAreDroppedButCounted() {
        let c = corpus([("a", "hi there"), ("a", "!!!"), ("b", ""), ("b", "yo")])
        #expect(c.messageCount == 2)
        #expect(c.provenance.messagesRead == 4)
        #expect(c.provenance.emptyMessages == 2)
        #expect(c.userIDs == ["a", "b"])  // a user with only empty messages does not exist
    }

    @Test func userSplitTakesEveryFifthUserSortedAsStrings() throws {
        // Sorted as strings: 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9 -> positions 0, 5, 10 are 1, 4, 9.
        let users = (1...11).map(String.init)
        let c = corpus(users.map { ($0, "message of \($0)") })
        let split = try CorpusSplit(.users, of: c)
        let evalUsers = Set(split.evalMessages.map { c.userIDs[Int(c.messageUsers[$0])] })
        #expect(evalUsers == ["1", "4", "9"])
        #expect(split.trainUserCount == 8)
        #expect(split.evalUserCount == 3)
    }

    @Test func perUserSplitTrainsOnTheFirstEightyPercentRoundedDown() throws {
        let c = corpus((0..<9).map { ("u", "m\($0)") } + (0..<5).map { ("v", "n\($0)") })
        let split = try CorpusSplit(.perUser, of: c)
        // u: 9 messages -> 7 train; v: 5 -> 4 train.
        #expect(split.trainMessages == Array(0..<7) + Array(9..<13))
        #expect(split.evalMessages == [7, 8, 13])
    }

    @Test func vocabularyRanksByCountThenUTF8Bytes() throws {
        let c = corpus([("a", "b a c b a d"), ("a", "é e")])
        let v = try Vocabulary(countingMessages: 0..<c.messageCount, of: c, size: 4)
        // a:2 b:2 c:1 d:1 e:1 é:1 -> ties by bytes: a < b; c < d < e < é ("é" is 0xC3 0xA9).
        #expect(v.words == ["a", "b", "c", "d"])
        #expect(v.id(of: "a") == 4)
        #expect(v.id(of: "é") == SpecialToken.unk.rawValue)
        #expect(v.symbol(for: 2) == "<s>")
    }

    @Test func vocabularyBuiltFromTrainingUsersOnly() throws {
        // Users sorted: "a" (eval), "b", "c"; the eval user's words stay out of V.
        let c = corpus([("a", "secret secret secret"), ("b", "hello"), ("c", "hello world")])
        let data = try EncodedSplit(corpus: c, split: .users, vocabularySize: 10)
        #expect(data.vocabulary.words == ["hello", "world"])
        #expect(data.evalMessages == [[1, 1, 1]])
    }

    @Test func badSplitsAndSizesAreTypedErrors() throws {
        let one = corpus([("solo", "just me"), ("solo", "again me")])
        #expect(throws: CorpusError.self) { try CorpusSplit(.users, of: one) }
        #expect((try? CorpusSplit(.perUser, of: one)) != nil)
        #expect(throws: CorpusError.self) { try CorpusSplit(.users, of: TokenizedCorpus()) }
        #expect(throws: CorpusError.self) { try EncodedSplit(corpus: one, split: .perUser, vocabularySize: 0) }
        do {
            _ = try CorpusSplit(.users, of: one)
        } catch let error as CorpusError {
            #expect(error.code == .tooFewUsers)
            #expect(error.message.contains("per-user"))
        }
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
