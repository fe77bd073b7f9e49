import Hummingbird

extension Response {
    /// A response whose body is JSON text already built (by PostgreSQL, for list endpoints).
    public static func jsonText(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }
}
