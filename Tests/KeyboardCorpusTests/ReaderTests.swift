import Foundation
import Testing

@testable import KeyboardCorpus

struct ReaderTests {
    let loader = CorpusLoader(usesCache: false)

    func expectError(_ code: CorpusError.Code, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected CorpusError.\(code)")
        } catch let error as CorpusError {
            #expect(error.code == code, "\(error)")
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func readsNUSXMLWithEntitiesAndEmptyText() throws {
        let folder = TemporaryFolder()
        let xml = nusXML([("7", "Fish &amp; chips&#13;at 5?"), ("7", ""), ("12", "&lt;3 u &quot;lah&quot;")])
        let path = folder.write("sms.xml", xml)
        let c = try loader.load(path: path)
        #expect(c.provenance.format == "nus-sms-xml")
        #expect(c.provenance.messagesRead == 3)
        #expect(c.provenance.emptyMessages == 1)
        #expect(c.words(ofMessage: 0) == ["fish", "chips", "at", "5"])
        #expect(c.words(ofMessage: 1) == ["3", "u", "lah"])
        #expect(c.userIDs == ["7", "12"])
    }

    @Test(arguments: [true, false]) func readsZippedNUSXML(deflated: Bool) throws {
        let folder = TemporaryFolder()
        let xml = Array(nusXML([("1", "hello there"), ("2", "hi")]).utf8)
        let path = folder.write("sms.zip", makeZip(name: "smsCorpus_en.xml", contents: xml, deflated: deflated))
        let c = try loader.load(path: path)
        #expect(c.messageCount == 2)
        #expect(c.tokenCount == 3)
    }

    @Test func readsShakespeareTurns() throws {
        let folder = TemporaryFolder()
        let text =
            "First Citizen:\nBefore we proceed, hear me:\nspeak.\n\nAll:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved?\n"
        let c = try loader.load(path: folder.write("play.txt", text))
        #expect(c.provenance.format == "shakespeare")
        #expect(c.userIDs == ["First Citizen", "All"])
        #expect(c.messageCount == 4)
        #expect(c.words(ofMessage: 0) == ["before", "we", "proceed", "hear", "me"])
    }

    @Test func readsPlainTextFilesFoldersTSVAndJSONL() throws {
        let folder = TemporaryFolder()
        let single = try loader.load(path: folder.write("alice.txt", "hi bob\r\n\r\nsee you\n"))
        #expect(single.userIDs == ["alice"])
        #expect(single.messageCount == 2)
        #expect(single.provenance.emptyMessages == 2)  // the blank line and the final empty line

        let dir = folder.path + "/users"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/u2.txt", contents: Data("two\n".utf8))
        FileManager.default.createFile(atPath: dir + "/u1.txt", contents: Data("one\nuno\n".utf8))
        let multi = try loader.load(path: dir)
        #expect(multi.userIDs == ["u1", "u2"])
        #expect(multi.messageCount == 3)

        let tsv = try loader.load(path: folder.write("c.tsv", "u1\thello world\nu2\tbye\n"))
        #expect(tsv.userIDs == ["u1", "u2"])

        let jsonl = try loader.load(
            path: folder.write(
                "c.jsonl", "{\"user\": \"a\", \"text\": \"Hi!\"}\n\n{\"user\": 42, \"text\": \"yo yo\"}\n"))
        #expect(jsonl.userIDs == ["a", "42"])
        #expect(jsonl.tokenCount == 3)
    }

    @Test func badInputsAreTypedErrors() throws {
        let folder = TemporaryFolder()
        expectError(.fileNotFound) { _ = try loader.load(path: folder.path + "/missing.zip") }
        let notCorpus = folder.write("other.zip", makeZip(name: "readme.txt", contents: Array("hello".utf8)))
        expectError(.notTheCorpus) { _ = try loader.load(path: notCorpus) }
        let garbageZip = folder.write("garbage.zip", [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 100))
        expectError(.notAZipArchive) { _ = try loader.load(path: garbageZip) }
        let xml = nusXML([("1", "hello"), ("2", "bye")])
        let truncated = folder.write("truncated.xml", String(xml.prefix(xml.count - 40)))
        expectError(.malformedXML) { _ = try loader.load(path: truncated) }
        let noUser = folder.write("nouser.xml", "<smsCorpus><message id=\"1\"><text>hi</text></message></smsCorpus>")
        expectError(.malformedXML) { _ = try loader.load(path: noUser) }
        let badEntity = folder.write("entity.xml", nusXML([("1", "fish &chips; now")]))
        expectError(.malformedXML) { _ = try loader.load(path: badEntity) }
        let notNUS = folder.write("other.xml", "<?xml version=\"1.0\"?><catalog><book/></catalog>")
        expectError(.notTheCorpus) { _ = try loader.load(path: notNUS) }
        var invalid = Array(nusXML([("1", "caf")]).utf8)
        invalid.insert(0xFF, at: invalid.firstIndex(of: UInt8(ascii: "f"))! + 1)
        expectError(.invalidUTF8) { _ = try loader.load(path: folder.write("invalid.xml", invalid)) }
        expectError(.invalidUTF8) {
            _ = try loader.load(path: folder.write("invalid.txt", [0x68, 0x69, 0x0A, 0xC3, 0x28]))
        }
        expectError(.malformedRecord) {
            _ = try loader.load(path: folder.write("bad.jsonl", "{\"user\": \"a\", \"text\": \"x\"}\n{not json\n"))
        }
        expectError(.malformedRecord) { _ = try loader.load(path: folder.write("bad2.jsonl", "{\"user\": \"a\"}\n")) }
        expectError(.malformedRecord) { _ = try loader.load(path: folder.write("bad.tsv", "u1\thi\nno tab here\n")) }
        let empty = try loader.load(path: folder.write("empty.txt", "...\n!!!\n"))
        #expect(empty.messageCount == 0)
        expectError(.emptyCorpus) { _ = try EncodedSplit(corpus: empty, split: .users, vocabularySize: 10) }
    }

    @Test func cacheRoundTripsAndRejectsDamage() throws {
        let folder = TemporaryFolder()
        let cacheDir = folder.path + "/cache"
        let source = folder.write("c.tsv", "u1\thello world\nu2\tbye now\nu1\tagain\n")
        let cached = CorpusLoader(usesCache: true, cacheDirectory: cacheDir)
        let first = try cached.load(path: source)
        let second = try cached.load(path: source)  // served from the cache
        #expect(first.fingerprint() == second.fingerprint())
        #expect(first.provenance == second.provenance)
        let bytes = CorpusCache.encode(first)
        #expect(try CorpusCache.decode(bytes).fingerprint() == first.fingerprint())
        for cut in [0, 8, 16, bytes.count / 2, bytes.count - 1] {
            #expect(throws: CorpusError.self) { try CorpusCache.decode(Array(bytes.prefix(cut))) }
        }
        var flipped = bytes
        flipped[bytes.count - 3] ^= 0x10
        #expect(throws: CorpusError.self) { try CorpusCache.decode(flipped) }
    }

    @Test(
        "NUS SMS reproduces the nwp-v1 self-checks (needs ../shared/corpora; skipped if absent)",
        .enabled(
            if: sharedCorpus("nus-sms/smsCorpus_en_xml_2015.03.09_all.zip") != nil,
            "../shared/corpora/nus-sms is absent"))
    func nusSMSSelfChecks() throws {
        let path = try #require(sharedCorpus("nus-sms/smsCorpus_en_xml_2015.03.09_all.zip"))
        let c = try loader.load(path: path)
        #expect(c.provenance.messagesRead == 55_835)
        #expect(c.provenance.emptyMessages == 329)
        #expect(c.messageCount == 55_506)
        #expect(c.userCount == 343)
        #expect(c.tokenCount == 581_762)
        #expect(c.fingerprint() == "2f9f3fdbd702dfcded9e41ea427dc539e6dea1875047a86f7b0dc7db00b905d6")
        let data = try EncodedSplit(corpus: c, split: .users, vocabularySize: 10_000)
        #expect(data.split.trainUserCount == 274)
        #expect(data.split.evalUserCount == 69)
        #expect(data.evalTokenCount == 110_354)
        #expect(data.evalInVocabularyCount == 101_254)
        #expect(data.vocabulary.fingerprint() == "50524a75cd87ee583bf6c48a48c30722829ac5d49abea066fbf38d6405db9e1e")
    }

    @Test(
        "tiny Shakespeare reads as speakers (needs ../shared/corpora; skipped if absent)",
        .enabled(if: sharedCorpus("tinyshakespeare/input.txt") != nil, "../shared/corpora/tinyshakespeare is absent"))
    func tinyShakespeare() throws {
        let path = try #require(sharedCorpus("tinyshakespeare/input.txt"))
        let c = try loader.load(path: path)
        #expect(c.provenance.format == "shakespeare")
        #expect(c.userCount > 100)
        #expect(c.userIDs.first == "First Citizen")
    }
}
