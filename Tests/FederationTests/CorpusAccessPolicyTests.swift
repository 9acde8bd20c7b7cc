import FederationProtocol
import FederationTestSupport
import Foundation
import RunStore
import Testing

@testable import FederationServer

/// A server for remote clients opens only the corpora under its --corpora folders.
@Suite struct CorpusAccessPolicyTests {
    @Test func onlyTheFoldersGivenAndTheBuiltInCorpus() throws {
        let root = NSTemporaryDirectory() + "kbd-sim-policy-\(UUID().uuidString)"
        let allowed = root + "/corpora"
        try FileManager.default.createDirectory(atPath: allowed + "/nus", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/private", withIntermediateDirectories: true)
        // A symbolic link inside the allowed folder that points out of it.
        try FileManager.default.createSymbolicLink(atPath: allowed + "/escape", withDestinationPath: root + "/private")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let policy = CorpusAccessPolicy(folders: [allowed])
        #expect(policy.allows("synthetic"))
        #expect(policy.allows(allowed + "/nus"))
        #expect(policy.allows(allowed + "/nus/sms.zip"))
        #expect(policy.allows("synthetic:" + allowed + "/spec.json"))
        #expect(!policy.allows("/etc/shadow"))
        #expect(!policy.allows("synthetic:/etc/shadow"))
        #expect(!policy.allows(allowed + "/../private/secret.txt"))
        #expect(!policy.allows(allowed + "/escape/secret.txt"))
        #expect(!policy.allows(allowed + "/escape/../nus/sms.zip"))  // `..` after a link: refused
        #expect(!policy.allows(allowed + "/nus/../nus/sms.zip"))
        #expect(!policy.allows(allowed + "-other/file"))  // a sibling whose name starts the same
        #expect(!policy.allows(""))
        #expect(!CorpusAccessPolicy(folders: []).allows(allowed + "/nus"))
    }

    @Test func aRefusedCorpusIsNeverOpenedAndNothingIsStored() throws {
        let server = AggregationServer(
            store: try Fixtures.server().store, corpusPolicy: CorpusAccessPolicy(folders: []),
            loadDataset: { _ in
                Issue.record("the server opened a refused corpus")
                throw FederationError(.unusableCorpus, "unreachable")
            })
        var c = Fixtures.neuralConfiguration()
        c.corpus = "/etc/shadow"
        #expect(throws: ServerRejection.self) { _ = try server.createRun(c) }
        #expect(try server.store.runs().isEmpty)
    }
}
