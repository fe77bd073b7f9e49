import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import ServiceSupport

/// A GET of `path` with no body, and a request context on a channel of its own, for calling a
/// router or a middleware directly, without a server.
enum RouterRequest {
    static func get(_ path: String) -> Request {
        Request(head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: path), body: .init(buffer: ByteBuffer()))
    }

    static func context(logger: Logger = Logger(label: "test")) -> AppRequestContext {
        AppRequestContext(source: .init(channel: EmbeddedChannel(), logger: logger))
    }
}
