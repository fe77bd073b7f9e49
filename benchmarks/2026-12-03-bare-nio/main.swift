// An experiment, not part of the product (BENCHMARKS.md, sixteenth session): the user-service's
// PUT /user-service/update (same statement, same client, same JSON reader and writer) on a bare
// NIO HTTP/1 pipeline, a task per request on the connection's event loop, without Hummingbird; no
// routing, request ids, metrics, log line or validation. To run it: copy this file to
// Sources/proto/main.swift, add to Package.swift's targets
//   .executableTarget(name: "proto", dependencies: ["Postgres", "ServiceSupport",
//       .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]),
// then `swift build -c release --product proto` and start it with DATABASE_URL (it listens on
// 127.0.0.1:18095, any path). alternated.txt: it, the user-service (DATABASE_POOL_SIZE=16,
// LOG_LEVEL=warning) and pgbench running the same UPDATE, 3 s each in turn, wrk with the
// benchmark's update.lua; CPU from /proc/PID/stat.
import NIOCore
import NIOHTTP1
import NIOPosix
import Postgres
import ServiceSupport
import Foundation

final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop
    init(_ loop: any EventLoop) { self.loop = loop }
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

let database = PostgresClient(configuration: PostgresConfiguration(connectionString: ProcessInfo.processInfo.environment["DATABASE_URL"]!, maximumConnections: 16).named("proto"))
let sql = """
    UPDATE user_service.users SET firstname = $2, lastname = $3, email = $4 WHERE id = $1
    RETURNING id, firstname, lastname, email, user_service.transaction_token()
    """

final class Handler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    var body = ByteBuffer()
    let executor: LoopExecutor
    init(_ loop: any EventLoop) { executor = LoopExecutor(loop) }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: body.clear()
        case .body(var part): body.writeBuffer(&part)
        case .end:
            let bytes = Array(body.readableBytesView)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let this = NIOLoopBound(self, eventLoop: context.eventLoop)
            Task(executorPreference: executor) {
                var status = HTTPResponseStatus.ok
                var out = ByteBuffer()
                do {
                    let json = try JSONObjectReader(bytes)
                    let rows = try await database.prepared(sql, [try json.integer("id"), try json.string("firstname"), try json.string("lastname"), try json.string("email")])
                    var w = JSONObjectWriter()
                    let row = rows[0]
                    w.field("id", try row.decode(0, as: Int64.self))
                    w.field("firstname", try row.decode(1, as: String.self))
                    w.field("lastname", try row.decode(2, as: String.self))
                    w.field("email", try row.decode(3, as: String.self))
                    out = w.buffer
                } catch {
                    status = .badRequest
                    out = ByteBuffer(string: "{}")
                }
                let response = out
                let s = status
                bound.value.eventLoop.execute {
                    let context = bound.value
                    var headers = HTTPHeaders()
                    headers.add(name: "content-type", value: "application/json; charset=utf-8")
                    headers.add(name: "content-length", value: String(response.readableBytes))
                    context.write(this.value.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: s, headers: headers))), promise: nil)
                    context.write(this.value.wrapOutboundOut(.body(.byteBuffer(response))), promise: nil)
                    context.writeAndFlush(this.value.wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}

let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(Handler(channel.eventLoop))
        }
    }
    .bind(host: "127.0.0.1", port: 18095).wait()
try channel.closeFuture.wait()
