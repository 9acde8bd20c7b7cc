import FederationProtocol
import Foundation
import Hummingbird
import NIOCore

/// Reading a request's body and path parameters, each failure as the refusal the client
/// gets.
extension Request {
    /// Reads the whole body, refused with `413` and `oversizedReason` once it exceeds `limit` bytes.
    ///
    /// A `Content-Length` over the limit is refused before any of the body is read. The
    /// refusal is an ``HTTPRejection``: `413` whatever the reason (a JSON body too large is
    /// `413 bad-request`).
    func readBody(upTo limit: Int, oversizedReason: ServerRejection.Reason) async throws -> ByteBuffer {
        func tooLarge(_ count: Int?) -> HTTPRejection {
            HTTPRejection(
                413, oversizedReason,
                "the request body\(count.map { " of \($0) bytes" } ?? "") exceeds this server's limit of \(limit) bytes"
            )
        }
        if let declared = headers[.contentLength].flatMap(Int.init), declared > limit { throw tooLarge(declared) }
        var buffer = ByteBuffer()
        for try await fragment in body {
            guard buffer.readableBytes + fragment.readableBytes <= limit else { throw tooLarge(nil) }
            var fragment = fragment
            buffer.writeBuffer(&fragment)
        }
        return buffer
    }

    /// The body decoded as `type` with the default `JSONDecoder`.
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        let buffer = try await readBody(upTo: limit, oversizedReason: .badRequest)
        return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
    }
}

extension Parameters {
    /// The integer path parameter `name`; anything else is `400 bad-request`.
    func requireInteger<T: FixedWidthInteger & Sendable>(_ name: String, as type: T.Type = T.self)
        throws(ServerRejection) -> T
    {
        guard let text = get(name) else {
            throw ServerRejection(.badRequest, "the path lacks its \(name) parameter")
        }
        guard let value = T(text) else {
            throw ServerRejection(
                .badRequest, "the path's \(name) '\(text.prefix(24))' is not an integer in \(T.min)…\(T.max)")
        }
        return value
    }
}
