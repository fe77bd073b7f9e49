import Hummingbird

extension Request {
    /// Decodes a JSON object body, with a 400 that names the offending field when it does not fit,
    /// and the context's size cap (413).
    public mutating func decodeJSON<T: JSONObjectDecodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        let buffer = try await collectBody(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("the request body is empty; expected a JSON object") }
        let bytes = Array(buffer.readableBytesView)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw APIError.badRequest("the request body is not valid UTF-8")
        }
        return try T(json: JSONObjectReader(bytes))
    }
}
