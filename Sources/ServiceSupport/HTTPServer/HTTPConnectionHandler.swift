import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes

/// One HTTP connection: reads a request whole (at most the context's upload cap), hands it to
/// the router in a task that runs on this connection's event loop, and writes the response's head,
/// body and end in one write. A `Content-Length` over the cap is answered at once (the router's
/// `DeclaredBodySizeMiddleware` gives the 413), and so is a body that grows past it; the
/// connection is closed after either answer, since the rest of that body would follow.
final class HTTPConnectionHandler<Responder: HTTPResponder>: ChannelInboundHandler where Responder.Context == AppRequestContext {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// What every connection of a server shares.
    struct Shared: Sendable {
        let responder: Responder
        let serverName: String
        let logger: Logger
        let dates: HTTPDate
    }

    private enum State {
        case idle
        case reading(HTTPRequest, ByteBuffer)
        /// Answered before the request's end; what is left of its body is dropped.
        case skipping
    }

    private let shared: Shared
    private let executor: EventLoopTaskExecutor
    private var state = State.idle
    private var answering = false
    private var closeWhenAnswered = false

    init(shared: Shared, eventLoop: any EventLoop) {
        self.shared = shared
        self.executor = EventLoopTaskExecutor(eventLoop)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let limit = AppRequestContext.uploadLimit
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), _):
            if let declared = head.headerFields[.contentLength].flatMap(Int.init), declared > limit {
                state = .skipping
                closeWhenAnswered = true
                answer(head, body: ByteBuffer(), context: context)
            } else {
                state = .reading(head, ByteBuffer())
            }
        case (.body(var part), .reading(let head, var body)):
            state = .idle
            body.writeBuffer(&part)
            if body.readableBytes > limit {
                state = .skipping
                closeWhenAnswered = true
                answer(head, body: body, context: context)
            } else {
                state = .reading(head, body)
            }
        case (.end, .reading(let head, let body)):
            state = .idle
            answer(head, body: body, context: context)
        case (.end, _):
            state = .idle
        case (.body, _):
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Nothing read for the idle timeout: a request that never finishes or a kept-alive
        // connection. One being answered waits for its answer.
        if event is IdleStateHandler.IdleStateEvent {
            if !answering { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        shared.logger.debug("connection failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func answer(_ head: HTTPRequest, body: ByteBuffer, context: ChannelHandlerContext) {
        answering = true
        if head.headerFields[.connection]?.lowercased() == "close" { closeWhenAnswered = true }
        let request = Request(head: head, body: RequestBody(buffer: body))
        let requestContext = AppRequestContext(source: .init(channel: context.channel, logger: shared.logger))
        Self.answer(
            request, context: requestContext, shared: shared, executor: executor,
            then: NIOLoopBound(self, eventLoop: context.eventLoop), on: NIOLoopBound(context, eventLoop: context.eventLoop))
    }

    private static func answer(
        _ request: Request, context: AppRequestContext, shared: Shared, executor: EventLoopTaskExecutor,
        then handler: NIOLoopBound<HTTPConnectionHandler>, on channelContext: NIOLoopBound<ChannelHandlerContext>
    ) {
        Task(executorPreference: executor) {
            let answer = await respond(to: request, context: context, shared: shared)
            let eventLoop = handler.eventLoop
            if eventLoop.inEventLoop {
                handler.value.write(answer, context: channelContext.value)
            } else {
                eventLoop.execute { handler.value.write(answer, context: channelContext.value) }
            }
        }
    }

    /// The router's response, its body collected, with `Date` and `Server`.
    private static func respond(to request: Request, context: AppRequestContext, shared: Shared) async -> Answer {
        var response: Response
        do {
            response = try await shared.responder.respond(to: request, context: context)
        } catch {
            // The router's JSONErrorMiddleware answers every error it sees; this is what is left.
            shared.logger.error("request failed", metadata: ["error": "\(error)"])
            response = ErrorBody(status: .internalServerError, message: "internal error").response(status: .internalServerError)
        }
        response.headers[.date] = shared.dates.now
        response.headers[.server] = shared.serverName
        let collected = CollectedBody()
        do {
            try await response.body.write(collected)
        } catch {
            shared.logger.error("response body failed", metadata: ["error": "\(error)"])
            return Answer(head: HTTPResponse(status: .internalServerError, headerFields: [.contentLength: "0", .connection: "close"]), body: [])
        }
        return Answer(head: response.head, body: collected.buffers)
    }

    /// A response ready to write.
    struct Answer: Sendable {
        var head: HTTPResponse
        var body: [ByteBuffer]
    }

    private func write(_ answer: Answer, context: ChannelHandlerContext) {
        answering = false
        context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
        for part in answer.body { context.write(wrapOutboundOut(.body(part)), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if closeWhenAnswered || answer.head.headerFields[.connection] == "close" { context.close(promise: nil) }
    }
}

/// A response body's buffers, as the body writes them: every body of ours is in memory already.
private final class CollectedBody: ResponseBodyWriter {
    var buffers: [ByteBuffer] = []

    func write(_ buffer: ByteBuffer) async throws {
        buffers.append(buffer)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
