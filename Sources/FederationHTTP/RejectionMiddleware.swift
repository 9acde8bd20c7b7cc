import FederationProtocol
import Foundation
import Hummingbird
import Logging

/// Turns every failure of a request into an ``HTTPRejection`` reply (its status, and the
/// rejection as the JSON body) and logs it on one line: refusals at info, internal errors at
/// error.
///
/// Messages carry ids and counts only (no text, tokens or weights), so they can be logged.
struct RejectionMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let rejection: HTTPRejection
            if let error = error as? HTTPError, error.status == .notFound {
                // The router's answer to a path or method it has no route for.
                rejection = HTTPRejection(
                    404, .badRequest,
                    "there is no route \(request.method) \(request.uri.path) (docs/server.md lists them)")
            } else {
                rejection = HTTPRejection(mapping: error)
            }
            let line: Logger.Message = "refused \(request.method) \(request.uri.path): \(rejection)"
            if rejection.status >= 500 { logger.error(line) } else { logger.info(line) }
            return Self.response(for: rejection)
        }
    }

    /// The rejection as its HTTP status with the rejection as JSON.
    static func response(for rejection: HTTPRejection) -> Response {
        // Encoding a struct of an Int and two Strings cannot fail.
        let body = (try? Reply.encoder.encode(rejection)) ?? Data()
        return Reply.response(body, status: HTTPResponse.Status(code: rejection.status))
    }
}
