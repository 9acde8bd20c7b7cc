import Foundation
import Hummingbird
import NIOCore

/// The replies of the wire format (JSON, raw bytes, none), shared by the routes and the rejection middleware.
enum Reply {
    /// The encoder of every JSON reply: default settings with sorted keys, as ``HTTPTransport``
    /// encodes its requests.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    /// `value` as a JSON reply.
    ///
    /// - Throws: `EncodingError` if `value` holds a non-finite floating-point number (a reply
    ///   the default decoder could not read); it becomes a `500 internal-error`.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        response(try encoder.encode(value), status: status)
    }

    /// Encoded JSON as a reply.
    static func response(_ json: Data, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
    }

    /// Raw bytes as a reply of `contentType`.
    static func response(bytes: some Sequence<UInt8>, contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A reply without a body (`204 No Content`).
    static var noContent: Response { Response(status: .noContent) }
}
