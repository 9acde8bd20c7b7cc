public import FederationProtocol
public import SecureAggregation

// Secure aggregation one message at a time: over HTTP each phone sends its own stage message
// with its own credential, and the fleet driver closes the stage with the run credential
// (the batch calls of SecureAggregationSession.swift with no messages). Every refusal says
// which stage, which phone and what was wrong, and leaves the round to the honest phones.

extension AggregationServer {
    /// Takes one phone's message of the open secure-aggregation stage of `round`.
    ///
    /// `device` is the device the request's credential is bound to: the message's phone index
    /// must be that device's place in the round's cohort, so one phone cannot speak for another.
    ///
    /// - Throws: a ``ServerRejection``: `forbidden-credential` for a message about another
    ///   device's phone; the state machine's refusal (``SecureAggregationError``) mapped by
    ///   ``ServerRejection/init(secureAggregation:)``; `bad-request` when the run or round has no
    ///   secure aggregation open. The message is then not part of the round, which goes on.
    public func secureAggregationReceive(run id: Int64, round: Int, device: Int, _ inbound: SecureAggregationInbound)
        throws(ServerRejection)
    {
        let summation: SecureAggregationSettings.Summation = inbound.route == .plainInput ? .plain : .masked
        try withSession(id, round, summation) { open, session throws(ServerRejection) in
            let devices = session.setup.devices
            let phone = inbound.phone
            guard devices.indices.contains(phone) else {
                throw ServerRejection(
                    .unknownDevice,
                    "phone \(phone) is not in round \(round)'s secure-aggregation cohort of \(devices.count) phones")
            }
            guard Int(devices[phone]) == device else {
                throw ServerRejection(
                    .forbiddenCredential,
                    "a \(inbound.route.rawValue) message for phone \(phone) (device \(devices[phone])) sent with device \(device)'s credential; each phone sends its own messages"
                )
            }
            if case .plainInput(let input) = inbound {
                try session.receivePlain(input, in: open)
                return
            }
            if let abandonment = session.abandonment {
                throw ServerRejection(
                    .conflictingReplay, "secure aggregation of round \(round) was abandoned (\(abandonment))")
            }
            guard var machine = session.server else {
                throw ServerRejection(
                    .conflictingReplay, "secure aggregation of round \(round) has already finished")
            }
            session.server = nil  // one owner of the running sum while it changes
            defer { session.server = machine }
            do throws(SecureAggregationError) {
                switch inbound {
                case .advertiseKeys(let m):
                    open.bytesUp += Int64(m.wireByteCount)
                    try machine.receive(m)
                case .shareKeys(let m):
                    open.bytesUp += Int64(m.wireByteCount)
                    try machine.receive(m)
                case .maskedInput(let m, let tokens):
                    open.bytesUp += Int64(m.wireByteCount)
                    try machine.receive(m)
                    session.tokens[m.phone] = tokens
                case .unmask(let m):
                    open.bytesUp += Int64(m.wireByteCount)
                    try machine.receive(m)
                case .plainInput: break
                }
            } catch {
                throw ServerRejection(secureAggregation: error)
            }
        }
    }
}

extension ServerRejection {
    /// The refusal a secure-aggregation state machine's error becomes: the message names the
    /// stage, the phone and the code (e.g. `replayed`), never a key, share or value.
    ///
    /// - A message of a stage that is not open, a replay, a second key or share, a skipped
    ///   stage or an abandoned round: `conflicting-replay` (409).
    /// - A message of another round: `wrong-round` (409).
    /// - A phone outside the cohort: `unknown-device` (403).
    /// - A malformed message (a wrong length, a bad key or share, a share for another
    ///   recipient): `malformed-update` (400).
    public init(secureAggregation error: SecureAggregationError) {
        let reason: Reason =
            switch error.code {
            case .outOfOrder, .replayed, .skippedStage, .duplicateKey, .duplicateShare, .roundAbandoned,
                .tooFewNeighbours:
                .conflictingReplay
            case .wrongRound: .wrongRound
            case .unknownPhone: .unknownDevice
            case .invalidKey, .wrongRecipient, .shareDecryptionFailed, .invalidShare, .wrongLength, .inputOutOfRange,
                .ringTooSmall:
                .malformedUpdate
            }
        let stage = error.stage.map { " (\($0.rawValue))" } ?? ""
        let phone = error.phone.map { " from phone \($0)" } ?? ""
        self.init(
            reason, "secure aggregation refused a message\(phone)\(stage), \(error.code.rawValue): \(error.message)")
    }
}
