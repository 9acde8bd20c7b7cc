/// A refusal: a stable reason and a sentence.
///
/// The core knows no transport: the HTTP edge (`FederationHTTP`) maps each reason to the
/// status it answers with.
public struct ServerRejection: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// Stable reason codes.
    public enum Reason: String, Codable, Sendable {
        case unknownRun = "unknown-run"
        case runNotActive = "run-not-active"
        case noOpenRound = "no-open-round"
        case wrongRound = "wrong-round"
        case unknownDevice = "unknown-device"
        case afterDeadline = "after-deadline"
        case cohortComplete = "cohort-complete"
        case conflictingReplay = "conflicting-replay"
        case malformedUpdate = "malformed-update"
        case oversizedUpdate = "oversized-update"
        case badRequest = "bad-request"
        /// The run names a corpus the server may not open (outside its `--corpora` folders).
        case forbiddenCorpus = "forbidden-corpus"
        case roundAlreadyOpen = "round-already-open"
        /// No credential, a damaged one, or one this server did not issue (HTTP 401).
        case unauthenticated = "unauthenticated"
        /// A genuine credential used beyond what it is bound to: another run, round or device,
        /// an expired round, a superseded attachment, or the wrong kind for the route (HTTP 403).
        case forbiddenCredential = "forbidden-credential"
        /// A worker's lease on a shard is no longer live (it expired and the shard was leased
        /// again): its partial is refused (HTTP 410).
        case leaseExpired = "lease-expired"
        case internalError = "internal-error"
    }

    public var reason: Reason
    public var message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason.rawValue): \(message)" }
}
