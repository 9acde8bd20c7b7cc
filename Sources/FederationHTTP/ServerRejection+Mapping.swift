import Aggregation
public import FederationProtocol
import KeyboardCorpus
import LanguageModelTypes
import RunStore
import UpdateCodec

extension ServerRejection {
    /// The HTTP status a refusal for this reason is answered with: the one table of statuses.
    public var httpStatus: Int {
        switch reason {
        case .badRequest, .malformedUpdate: 400
        case .unauthenticated: 401
        case .unknownDevice, .forbiddenCorpus, .forbiddenCredential: 403
        case .unknownRun: 404
        case .runNotActive, .noOpenRound, .wrongRound, .cohortComplete, .conflictingReplay, .roundAlreadyOpen: 409
        case .afterDeadline, .leaseExpired: 410
        case .oversizedUpdate: 413
        case .internalError: 500
        }
    }

    /// The refusal an error becomes on the wire: every failure of a request is answered with
    /// one of these, so the client always gets a status, a stable reason and a sentence.
    ///
    /// - A ``ServerRejection`` stays as it is (an ``HTTPRejection`` loses its status).
    /// - A configuration the server cannot run (``FederationError``, a corpus, model, codec,
    ///   or optimizer problem) is `400 bad-request`; a finished run asked to resume is
    ///   `409 run-not-active`.
    /// - A run the store does not have is `404 unknown-run`; a round the store already has or
    ///   does not expect is `409 wrong-round`.
    /// - Anything else (a damaged checkpoint, an unusable database, a bug) is
    ///   `500 internal-error`: the request fails, the server stays up.
    public init(mapping error: any Error) {
        switch error {
        case let rejection as ServerRejection:
            self = rejection
        case let rejection as HTTPRejection:
            self = rejection.rejection
        case let error as FederationError:
            switch error.code {
            case .cannotResume: self.init(.runNotActive, error.message)
            case .badCheckpoint: self.init(.internalError, error.message)
            case .invalidConfiguration, .unusableCorpus, .protocolViolation, .transportFailure, .rejected:
                self.init(.badRequest, error.message)
            }
        case let error as RunStoreError:
            switch error.code {
            case .noSuchRun: self.init(.unknownRun, error.message)
            case .roundAlreadyCommitted, .outOfOrder, .noSuchRound: self.init(.wrongRound, error.message)
            case .cannotBranch: self.init(.badRequest, error.message)
            // The path is the server's own file: it stays out of the reply.
            case .unusableDatabase: self.init(.internalError, "the run store failed: \(error.message)")
            }
        case let error as CorpusError:
            self.init(.badRequest, "the run's corpus cannot be used: \(error.message)")
        case let error as CodecSchemeError:
            self.init(.badRequest, "the run's codec: \(error.description)")
        case let error as AggregationError where error.code == .invalidOptimizer:
            self.init(.badRequest, "the run's server optimizer: \(error.message)")
        case let error as NeuralModelError where error.code == .invalidConfig:
            self.init(.badRequest, "the run's model: \(error.message)")
        case let error as DecodingError:
            self.init(.badRequest, "the request body is not the expected JSON: \(Self.describe(error))")
        default:
            self.init(.internalError, "the server failed: \(error)")
        }
    }

    /// A decoding error as one line naming the field, without the body's values.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.isEmpty ? "the top level" : context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)) is not a \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) is missing a \(type)"
        case .keyNotFound(let key, let context): return "\(path(context)) lacks the key \"\(key.stringValue)\""
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

extension HTTPRejection {
    /// The refusal an error becomes on the wire (``ServerRejection/init(mapping:)``), with its
    /// reason's status; an ``HTTPRejection`` keeps its own.
    public init(mapping error: any Error) {
        if let rejection = error as? HTTPRejection {
            self = rejection
        } else {
            self.init(ServerRejection(mapping: error))
        }
    }
}
