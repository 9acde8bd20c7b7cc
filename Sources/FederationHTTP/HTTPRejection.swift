public import FederationProtocol

/// A refusal as it travels over HTTP: the status it is answered with, a stable reason and a
/// sentence.
///
/// It is the JSON body of every refused request (`{"message": …, "reason": …, "status": …}`)
/// and what ``HTTPTransport`` throws when the server refuses. A ``ServerRejection`` from the
/// core gets its reason's status (``ServerRejection/httpStatus``); only refusals the HTTP
/// layer makes itself (a path with no route, a body over the server's limit) choose another.
public struct HTTPRejection: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status code.
    public var status: Int
    public var reason: ServerRejection.Reason
    public var message: String

    /// A refusal answered with `status`.
    public init(_ status: Int, _ reason: ServerRejection.Reason, _ message: String) {
        self.status = status
        self.reason = reason
        self.message = message
    }

    /// The core's refusal, answered with its reason's status.
    public init(_ rejection: ServerRejection) {
        self.init(rejection.httpStatus, rejection.reason, rejection.message)
    }

    /// The refusal without its status, as the core states it.
    public var rejection: ServerRejection { ServerRejection(reason, message) }

    public var description: String { "\(status) \(reason.rawValue): \(message)" }
}
