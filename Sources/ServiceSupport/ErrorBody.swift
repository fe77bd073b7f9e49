import Foundation
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
        let data = (try? JSONEncoder().encode(self)) ?? Data(#"{"error":{"status":500,"message":"internal error"}}"#.utf8)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
