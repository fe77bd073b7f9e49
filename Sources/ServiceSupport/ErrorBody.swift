import Hummingbird

/// The JSON body of every 4xx/5xx response.
public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var status: Int
        public var message: String
    }

    public var error: Detail

    public init(status: HTTPResponse.Status, message: String) {
        self.error = Detail(status: status.code, message: message)
    }

    func response(status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: text))
    }

    /// `{"error":{"status":...,"message":...}}`, in the contract's order every time (Foundation's
    /// encoder on Linux orders keys by hash, which differs from one process to the next).
    public var text: ByteBuffer {
        var detail = JSONObjectWriter()
        detail.field("status", error.status)
        detail.field("message", error.message)
        var inner = detail.buffer
        var buffer = ByteBuffer(string: #"{"error":"#)
        buffer.writeBuffer(&inner)
        buffer.writeString("}")
        return buffer
    }
}
