import HummingbirdCore
import Logging
import NIOCore

/// An HTTP connection whose task (reading requests, every handler, writing responses) runs on the
/// connection's own event loop rather than on Swift's cooperative pool
/// (docs/design.md#one-thread-per-request).
struct EventLoopBoundChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 whose connections are served on their own event loops.
    public static func http1OnEventLoops(configuration: HTTP1Channel.Configuration) -> HTTPServerBuilder {
        .init { responder in
            EventLoopBoundChildChannel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
