import Crypto
public import FederationProtocol
import Foundation
import Synchronization

/// Who may call which route of ``FederationHTTPServer``: the server's side of docs/server.md's
/// "Credentials".
///
/// Three kinds of bearer credential (`Authorization: Bearer …`), each narrower than the last:
///
/// - The **operator token**, a secret the server is started with (`kbd-sim server
///   --token-file`): it creates and resumes runs and reads `/v1/status` and `/metrics`.
/// - A **run credential**, issued when a run is created or resumed, for that run and that
///   attachment only: it opens and closes the run's rounds, downloads its model and finishes
///   it. Attaching the run again (a resume) supersedes the earlier one.
/// - A **device credential**, issued for each selected device when a round opens and bound to
///   (run, attachment, round, device): it checks that device in, downloads the round's model
///   and uploads that device's update, while the round is open. It expires when the round
///   closes.
///
/// Run and device credentials are HMAC-SHA-256 tags (swift-crypto) over their kind and binding,
/// under a key drawn when the server starts and never written anywhere: the server verifies
/// them without storing them, and a restart invalidates them all (the driver attaches again).
/// The operator token is compared by its HMAC under the same key (swift-crypto's constant-time
/// check). No credential appears in a log line,
/// an error message or the store.
///
/// Refusals: no credential, a damaged one or one this server never issued (forged, or from
/// before a restart) is `401 unauthenticated`; a genuine credential used beyond its binding
/// (another run, round or device, a round that has closed, a superseded attachment, the wrong
/// kind for the route) is `403 forbidden-credential`. Each message says what to send instead.
public final class CredentialAuthority: Sendable {
    /// A credential's kind, for messages.
    public enum Kind: String, Sendable {
        case `operator` = "the operator token"
        case run = "a run credential"
        case device = "a device credential"
        case lease = "a lease credential"
    }

    /// What a verified device credential is bound to.
    public struct DeviceBinding: Sendable, Equatable {
        public var run: Int64
        public var round: Int
        public var device: Int

        public init(run: Int64, round: Int, device: Int) {
            self.run = run
            self.round = round
            self.device = device
        }
    }

    private struct State {
        /// The current attachment of each attached run (run credentials of older ones are refused).
        var attachments: [Int64: UInt64] = [:]
        /// The open round of each run, once credentials were issued for it.
        var openRounds: [Int64: Int] = [:]
        var nextAttachment: UInt64 = 1
    }

    /// The HMAC key's bytes (`SymmetricKey` is not `Sendable`; one is made per use).
    private let keyBytes: [UInt8]
    /// The operator token's HMAC under the key.
    private let operatorTag: [UInt8]
    private let state = Mutex(State())

    /// The shortest operator token accepted (a random one from ``generateToken()`` has 64).
    public static let minimumTokenLength = 32

    /// An authority for a server started with `operatorToken`.
    ///
    /// - Throws: ``ServerRejection`` `bad-request` if the token is shorter than
    ///   ``minimumTokenLength`` characters (a guessable token protects nothing).
    public init(operatorToken: String) throws(ServerRejection) {
        let token = operatorToken.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= Self.minimumTokenLength else {
            throw ServerRejection(
                .badRequest,
                "the operator token has \(token.count) characters; use at least \(Self.minimumTokenLength) (kbd-sim server writes a random one to its --token-file when the file does not exist)"
            )
        }
        let key = SymmetricKey(size: .bits256)
        keyBytes = key.withUnsafeBytes { Array($0) }
        operatorTag = Array(HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: key))
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// A fresh random token (256 bits from the system's generator, as 64 hex digits).
    public static func generateToken() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { bytes in
            bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    // MARK: Issuing

    /// A run credential for a new attachment of `run` (created or resumed); earlier run
    /// credentials of `run` stop working, and so do device credentials of its open round.
    public func attach(run: Int64) -> String {
        let attachment = state.withLock { state in
            let attachment = state.nextAttachment
            state.nextAttachment += 1
            state.attachments[run] = attachment
            state.openRounds[run] = nil
            return attachment
        }
        let fields = "run.\(run).\(attachment)"
        return "kbd-run.v1.\(fields).\(tag(fields))"
    }

    /// Device credentials for `devices` in `round` of `run`, under the run's current
    /// attachment; the round counts as open until ``roundClosed(run:round:)``.
    public func openRound(run: Int64, round: Int, devices: [UInt32]) -> [DeviceCredential] {
        let attachment: UInt64? = state.withLock { state in
            guard let attachment = state.attachments[run] else { return nil }
            state.openRounds[run] = round
            return attachment
        }
        // The route verified the run credential first, so the run is attached.
        guard let attachment else { return [] }
        return devices.map { device in
            let fields = "dev.\(run).\(attachment).\(round).\(device)"
            return DeviceCredential(device: Int(device), credential: "kbd-dev.v1.\(fields).\(tag(fields))")
        }
    }

    /// Device credentials of `round` of `run` expire.
    public func roundClosed(run: Int64, round: Int) {
        state.withLock { state in
            if state.openRounds[run] == round { state.openRounds[run] = nil }
        }
    }

    /// A worker's credential for `lease` (docs/scale-out.md): it downloads the lease's model
    /// and uploads or returns its partial; the lease itself expires on the coordinator.
    public func issueLease(_ lease: Int64) -> String {
        let fields = "lse.\(lease)"
        return "kbd-lse.v1.\(fields).\(tag(fields))"
    }

    /// Accepts only `lease`'s credential.
    public func requireLease(_ presented: String?, lease: Int64, for route: String) throws(ServerRejection) {
        let token = try Self.present(presented, needed: .lease, for: route)
        let fields = try verified(token, for: route)
        guard fields.first == "lse", fields.count == 2, let issued = Int64(fields[1]) else {
            throw ServerRejection(
                .forbiddenCredential,
                "\(route) needs the credential that came with lease \(lease), not \(Self.kind(of: fields).rawValue)")
        }
        guard issued == lease else {
            throw ServerRejection(
                .forbiddenCredential, "\(route): the credential was issued for lease \(issued), not lease \(lease)")
        }
    }

    /// Every credential of `run` stops working (the run finished or was interrupted).
    public func detach(run: Int64) {
        state.withLock { state in
            state.attachments[run] = nil
            state.openRounds[run] = nil
        }
    }

    // MARK: Verifying

    /// Accepts only the operator token.
    public func requireOperator(_ presented: String?, for route: String) throws(ServerRejection) {
        let token = try Self.present(presented, needed: .operator, for: route).trimmingCharacters(
            in: .whitespacesAndNewlines)
        guard HMAC<SHA256>.isValidAuthenticationCode(operatorTag, authenticating: Data(token.utf8), using: key) else {
            if token.hasPrefix("kbd-run.") || token.hasPrefix("kbd-dev.") || token.hasPrefix("kbd-lse.") {
                throw ServerRejection(
                    .forbiddenCredential,
                    "\(route) needs the operator token (the one in kbd-sim server's --token-file), not a run or device credential"
                )
            }
            throw ServerRejection(
                .unauthenticated,
                "\(route) needs the operator token and this is not it; send the contents of kbd-sim server's --token-file"
            )
        }
    }

    /// Accepts the run credential of `run`'s current attachment.
    public func requireRun(_ presented: String?, run: Int64, for route: String) throws(ServerRejection) {
        let token = try Self.present(presented, needed: .run, for: route)
        let fields = try verified(token, for: route)
        guard fields.first == "run", fields.count == 3, let issuedRun = Int64(fields[1]),
            let attachment = UInt64(fields[2])
        else {
            throw ServerRejection(
                .forbiddenCredential,
                "\(route) needs the run credential that creating or resuming run \(run) returned, not \(Self.kind(of: fields).rawValue)"
            )
        }
        guard issuedRun == run else {
            throw ServerRejection(
                .forbiddenCredential, "\(route): the run credential was issued for run \(issuedRun), not run \(run)")
        }
        try checkAttachment(attachment, of: run, for: route)
    }

    /// Accepts a device credential for `round` of `run`, while that round is open, and returns
    /// its binding; with `device`, only that device's credential.
    @discardableResult
    public func requireDevice(_ presented: String?, run: Int64, round: Int, device: Int?, for route: String)
        throws(ServerRejection) -> DeviceBinding
    {
        let token = try Self.present(presented, needed: .device, for: route)
        let fields = try verified(token, for: route)
        guard fields.first == "dev", fields.count == 5, let issuedRun = Int64(fields[1]),
            let attachment = UInt64(fields[2]), let issuedRound = Int(fields[3]), let issuedDevice = Int(fields[4])
        else {
            throw ServerRejection(
                .forbiddenCredential,
                "\(route) needs the device credential issued when round \(round) opened, not \(Self.kind(of: fields).rawValue)"
            )
        }
        guard issuedRun == run else {
            throw ServerRejection(
                .forbiddenCredential, "\(route): the device credential was issued for run \(issuedRun), not run \(run)")
        }
        try checkAttachment(attachment, of: run, for: route)
        guard issuedRound == round else {
            throw ServerRejection(
                .forbiddenCredential,
                "\(route): the device credential was issued for round \(issuedRound), not round \(round); each round issues new ones"
            )
        }
        guard state.withLock({ $0.openRounds[run] == round }) else {
            throw ServerRejection(
                .forbiddenCredential,
                "\(route): the device credential has expired: round \(round) of run \(run) is no longer open")
        }
        if let device, issuedDevice != device {
            throw ServerRejection(
                .forbiddenCredential,
                "\(route): the device credential was issued to another device, not device \(device); a device sends only its own"
            )
        }
        return DeviceBinding(run: run, round: round, device: issuedDevice)
    }

    /// Accepts the run credential of `run` or a device credential of its open `round`
    /// (the model download: the fleet driver fetches it once for its phones, a phone for itself).
    public func requireRunOrDevice(_ presented: String?, run: Int64, round: Int, for route: String)
        throws(ServerRejection)
    {
        if let presented, presented.hasPrefix("kbd-dev.") {
            try requireDevice(presented, run: run, round: round, device: nil, for: route)
        } else {
            try requireRun(presented, run: run, for: route)
        }
    }

    // MARK: Plumbing

    private func tag(_ fields: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data(("kbd-sim credential v1|" + fields).utf8), using: key)
        return Self.encodeTag(Data(code))
    }

    /// Base64url without padding.
    private static func encodeTag(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The credential's binding fields if its tag is this server's; else 401.
    private func verified(_ token: String, for route: String) throws(ServerRejection) -> [Substring] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        // kbd-run.v1.<fields…>.<tag>, the fields themselves dot-separated.
        guard parts.count >= 4, ["kbd-run", "kbd-dev", "kbd-lse"].contains(parts[0]), parts[1] == "v1",
            let presentedTag = Self.decodeTag(parts[parts.count - 1])
        else {
            throw ServerRejection(
                .unauthenticated,
                "\(route): the credential is not one this server issues; send the credential the server returned")
        }
        let fields = parts[2..<(parts.count - 1)].joined(separator: ".")
        guard
            HMAC<SHA256>.isValidAuthenticationCode(
                presentedTag, authenticating: Data(("kbd-sim credential v1|" + fields).utf8), using: key)
        else {
            throw ServerRejection(
                .unauthenticated,
                "\(route): the credential was not issued by this server (forged, damaged, or from before it restarted); attach the run again for new ones"
            )
        }
        return Array(parts[2..<(parts.count - 1)])
    }

    private func checkAttachment(_ attachment: UInt64, of run: Int64, for route: String) throws(ServerRejection) {
        switch state.withLock({ $0.attachments[run] }) {
        case attachment?: return
        case nil:
            throw ServerRejection(
                .forbiddenCredential,
                "\(route): run \(run) is not attached (finished, interrupted or never created here); resume it for a new credential"
            )
        default:
            throw ServerRejection(
                .forbiddenCredential,
                "\(route): the credential belongs to an earlier attachment of run \(run), superseded when the run was resumed; use the newer one"
            )
        }
    }

    private static func present(_ presented: String?, needed: Kind, for route: String) throws(ServerRejection)
        -> String
    {
        guard let presented, !presented.isEmpty else {
            throw ServerRejection(
                .unauthenticated, "\(route) needs \(needed.rawValue) in an `Authorization: Bearer …` header")
        }
        return presented
    }

    private static func kind(of fields: [Substring]) -> Kind {
        switch fields.first {
        case "dev": .device
        case "lse": .lease
        default: .run
        }
    }

    private static func decodeTag(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), data.count == SHA256.byteCount else { return nil }
        // Only the canonical spelling: unused low bits of the last character must not give a
        // second spelling of one tag.
        guard Self.encodeTag(data) == text else { return nil }
        return data
    }
}

/// One device's credential for an open round, as `POST /v1/runs/{run}/rounds` returns it.
public struct DeviceCredential: Codable, Sendable, Equatable {
    public var device: Int
    public var credential: String

    public init(device: Int, credential: String) {
        self.device = device
        self.credential = credential
    }
}

/// `POST /v1/runs/{run}/rounds` reply: a credential for each selected device.
public struct RoundCredentials: Codable, Sendable, Equatable {
    public var credentials: [DeviceCredential]

    public init(credentials: [DeviceCredential]) { self.credentials = credentials }
}
