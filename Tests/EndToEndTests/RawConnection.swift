import NIOCore
import NIOPosix

/// A TCP connection to a service that sends bytes as given (a half-sent head, a body announced and
/// never sent) and records what comes back and whether the server closed the connection.
struct RawConnection: Sendable {
    actor Transcript {
        private(set) var text = ""
        private(set) var closedByServer = false

        func append(_ chunk: String) { text += chunk }
        func close() { closedByServer = true }
    }

    let transcript = Transcript()
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// Connects, runs `body`, then closes the connection if the server has not.
    static func with(port: Int, _ body: (RawConnection) async throws -> Void) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            let connection = RawConnection(outbound: outbound)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await chunk in inbound { await connection.transcript.append(String(buffer: chunk)) }
                    } catch {}
                    await connection.transcript.close()
                }
                try await body(connection)
                group.cancelAll()
            }
        }
    }
}
