import Foundation
import NIOCore
import NIOPosix
import PostgresTestSupport

/// The read-your-writes phase's load generator: PUT-then-GET pairs offered at a fixed rate (open
/// loop), driven entirely on one event loop thread over kept-alive HTTP/1.1 connections, requests
/// written as bytes and answers parsed by hand. Each answer is stamped when its last byte is read,
/// and a pair's GET is written from the same callback that read its PUT's answer: no task, no
/// thread switch between them. AsyncHTTPClient, the phase's first client, cost three times as much
/// CPU per pair (at 1,000 pairs/s, 44 % of one of the machine's two cores) and resumed each answer
/// on Swift's cooperative pool before it could be stamped (BENCHMARKS.md, seventeenth session).
///
/// `@unchecked Sendable`: NIO's futures and scheduled tasks take `@Sendable` closures, but every
/// one here runs on `loop`, the only thread that touches the state below.
final class PairLoad: @unchecked Sendable {
    struct Pair {
        var put: [UInt8]
        var getPath: String
        var email: String
        var plainGetToo: Bool
        var emailBytes: [UInt8] { Array(email.utf8) }
    }

    struct Sample: Sendable {
        var email: String
        var roundTrip: Double
        var put: Double
        /// Wall clock, to compare with PostgreSQL's commit timestamps on the same machine.
        var getSentAt: Double
        var answeredAt: Double
        var status: Int
        var showsTheWrite: Bool
        var plainGet: Double?
    }

    private let loop: EventLoop
    private let putPort: Int
    private let getPort: Int
    private var idle: [Int: [Channel]] = [:]
    private var samples: [Sample] = []
    private var outstanding = 0
    private var done: EventLoopPromise<[Sample]>?

    /// Everything below runs on `loop`.
    init(loop: EventLoop, putPort: Int, getPort: Int) {
        self.loop = loop
        self.putPort = putPort
        self.getPort = getPort
    }

    /// Offers `pairs[n]` at `interval * n` from now; returns when every pair is answered.
    func run(_ pairs: [Pair], interval: TimeAmount) -> EventLoopFuture<[Sample]> {
        loop.flatSubmit {
            let promise = self.loop.makePromise(of: [Sample].self)
            self.done = promise
            self.outstanding = pairs.count
            if pairs.isEmpty { promise.succeed([]) } else { self.offer(pairs, from: 0, start: .now(), interval: interval) }
            return promise.futureResult
        }
    }

    /// Each pair schedules the next: one timer at a time, wherever the pairs are.
    private func offer(_ pairs: [Pair], from n: Int, start: NIODeadline, interval: TimeAmount) {
        loop.assumeIsolated().scheduleTask(deadline: start + interval * Int64(n)) {
            if n + 1 < pairs.count { self.offer(pairs, from: n + 1, start: start, interval: interval) }
            self.start(pairs[n])
        }
    }

    func close() -> EventLoopFuture<Void> {
        loop.flatSubmit {
            let channels = self.idle.values.flatMap { $0 }
            self.idle = [:]
            return EventLoopFuture.andAllComplete(channels.map { $0.close() }, on: self.loop)
        }
    }

    private func start(_ pair: Pair) {
        let started = NIODeadline.now()
        send(pair.put, to: putPort) { put in
            guard put.status == 200, let token = put.token else {
                return self.fail("PUT answered \(put.status) without a token")
            }
            let putDone = put.at
            let getSentAt = Date().timeIntervalSince1970
            let get = "GET \(pair.getPath) HTTP/1.1\r\nHost: 127.0.0.1\r\nECST-After: \(token)\r\n\r\n"
            self.send(Array(get.utf8), to: self.getPort) { answer in
                var sample = Sample(
                    email: pair.email, roundTrip: Self.seconds(answer.at - started), put: Self.seconds(putDone - started),
                    getSentAt: getSentAt, answeredAt: answer.wallClock, status: answer.status,
                    showsTheWrite: answer.bodyContains(pair.emailBytes), plainGet: nil)
                guard pair.plainGetToo else { return self.finish(sample) }
                let plain = "GET \(pair.getPath) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                self.send(Array(plain.utf8), to: self.getPort) { plainAnswer in
                    sample.plainGet = Self.seconds(plainAnswer.at - answer.at)
                    self.finish(sample)
                }
            }
        }
    }

    private func finish(_ sample: Sample) {
        samples.append(sample)
        outstanding -= 1
        if outstanding == 0 { done?.succeed(samples) }
    }

    private func fail(_ message: String) {
        done?.fail(EndToEndError(message))
        done = nil
    }

    private static func seconds(_ amount: TimeAmount) -> Double { Double(amount.nanoseconds) / 1e9 }

    /// Writes `request` on an idle connection to `port` (a new one when none is idle) and calls
    /// `answered` with its answer; the connection is idle again before that call.
    private func send(_ request: [UInt8], to port: Int, answered: @escaping (ResponseReader.Response) -> Void) {
        loop.preconditionInEventLoop()
        if let channel = idle[port]?.popLast() {
            write(request, on: channel, port: port, answered: answered)
            return
        }
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ResponseReader()) }
            }
            .connect(host: "127.0.0.1", port: port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel): self.write(request, on: channel, port: port, answered: answered)
                case .failure(let error): self.fail("connecting to port \(port): \(error)")
                }
            }
    }

    private func write(_ request: [UInt8], on channel: Channel, port: Int, answered: @escaping (ResponseReader.Response) -> Void) {
        let reader = try! channel.pipeline.syncOperations.handler(type: ResponseReader.self)
        reader.expect { result in
            switch result {
            case .success(let response):
                self.idle[port, default: []].append(channel)
                answered(response)
            case .failure(let error):
                self.fail("port \(port): \(error)")
            }
        }
        channel.writeAndFlush(channel.allocator.buffer(bytes: request), promise: nil)
    }
}

/// Reads one HTTP/1.1 answer at a time, with a Content-Length (both services answer so); stamps it
/// when its last byte arrives.
final class ResponseReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct Response {
        var status: Int
        var token: String?
        var body: ByteBuffer
        var at: NIODeadline
        var wallClock: Double

        func bodyContains(_ bytes: [UInt8]) -> Bool {
            ResponseReader.find(bytes, in: body.readableBytesView, from: body.readableBytesView.startIndex) != nil
        }
    }

    private var buffer = ByteBuffer()
    private var waiting: ((Result<Response, EndToEndError>) -> Void)?

    func expect(_ callback: @escaping (Result<Response, EndToEndError>) -> Void) {
        waiting = callback
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        guard let response = parse() else { return }
        let callback = waiting
        waiting = nil
        callback?(.success(response))
    }

    func channelInactive(context: ChannelHandlerContext) {
        waiting?(.failure(EndToEndError("connection closed before an answer")))
        waiting = nil
    }

    /// The answer at the front of the buffer once all of it has arrived, by bytes: string
    /// functions, Foundation's above all, cost this one thread more than the rest of its work.
    private func parse() -> Response? {
        let view = buffer.readableBytesView
        guard let headEnd = Self.find([13, 10, 13, 10], in: view, from: view.startIndex) else { return nil }
        // "HTTP/1.1 200 OK"
        let codeStart = view.startIndex + 9
        guard headEnd - view.startIndex > 12, let status = Self.number(in: view, from: codeStart, to: codeStart + 3) else {
            return failed("malformed status line")
        }
        var length: Int?
        var token: String?
        var line = (Self.find([13, 10], in: view, from: view.startIndex) ?? headEnd) + 2
        while line < headEnd {
            let lineEnd = Self.find([13, 10], in: view, from: line) ?? headEnd
            if let value = Self.value(of: Self.contentLength, in: view, line: line, end: lineEnd) {
                length = Self.number(in: view, from: value, to: lineEnd)
            } else if let value = Self.value(of: Self.ecstToken, in: view, line: line, end: lineEnd) {
                token = String(decoding: view[value..<lineEnd], as: UTF8.self)
            }
            line = lineEnd + 2
        }
        guard let length else { return failed("an answer without Content-Length") }
        let headLength = headEnd + 4 - view.startIndex
        guard buffer.readableBytes >= headLength + length else { return nil }
        buffer.moveReaderIndex(forwardBy: headLength)
        let body = buffer.readSlice(length: length)!
        buffer.discardReadBytes()
        return Response(status: status, token: token, body: body, at: .now(), wallClock: Date().timeIntervalSince1970)
    }

    private func failed(_ message: String) -> Response? {
        waiting?(.failure(EndToEndError(message)))
        waiting = nil
        return nil
    }

    private static let contentLength = Array("content-length:".utf8)
    private static let ecstToken = Array("ecst-token:".utf8)

    static func find(_ needle: [UInt8], in view: ByteBufferView, from start: Int) -> Int? {
        guard view.endIndex - start >= needle.count else { return nil }
        var i = start
        while i <= view.endIndex - needle.count {
            var j = 0
            while j < needle.count && view[i + j] == needle[j] { j += 1 }
            if j == needle.count { return i }
            i += 1
        }
        return nil
    }

    /// Where the value of header `name` (lower case, with its colon) starts on this line, if it is that header.
    private static func value(of name: [UInt8], in view: ByteBufferView, line: Int, end: Int) -> Int? {
        guard end - line > name.count else { return nil }
        for (k, byte) in name.enumerated() where view[line + k] | (byte == 58 ? 0 : 0x20) != byte { return nil }
        var start = line + name.count
        while start < end && view[start] == 32 { start += 1 }
        return start
    }

    private static func number(in view: ByteBufferView, from start: Int, to end: Int) -> Int? {
        var value = 0
        for i in start..<end {
            guard (48...57).contains(view[i]) else { return nil }
            value = value * 10 + Int(view[i] - 48)
        }
        return start < end ? value : nil
    }
}
