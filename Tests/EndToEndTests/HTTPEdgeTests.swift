import PostgresTestSupport
import Testing

/// The HTTP edge against clients that never finish a request: answered or closed, never waited on.
@Suite("end to end: the HTTP edge against clients that never finish", .enabled(if: runsProcesses))
struct HTTPEdgeTests {
    /// Without the declared-size check, the service waits for a body that never comes: no answer.
    @Test(arguments: [
        ("user-service", "PUT /user-service/update"),
        ("order-service", "POST /order-service/create"),
    ])
    func aDeclaredBodyOverOneMebibyteIsAnswered413WithoutWaitingForIt(_ service: String, _ route: String) async throws {
        try await withStack { stack in
            let running = service == "user-service" ? try await stack.userService() : try await stack.orderService()
            try await RawConnection.with(port: running.port) { connection in
                try await connection.send("\(route) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n")
                try await eventually(timeout: .seconds(10), "a 413 with the JSON error") {
                    await connection.transcript.text.contains(#""status":413"#)
                }
                #expect(await connection.transcript.text.hasPrefix("HTTP/1.1 413"))
            }
        }
    }

    /// Without the idle timeout, each of these connections stays open for as long as the client
    /// likes: a head that never ends, a body announced and never sent, a kept-alive connection.
    @Test func connectionsThatSendNothingMoreAreClosedAfterTheIdleTimeout() async throws {
        try await withStack { stack in
            let users = try await stack.userService(extra: ["HTTP_IDLE_TIMEOUT_SECONDS": "1"])
            let partialHead = "GET /user-service/1 HTTP/1.1\r\nHost: localhost\r\n"
            let bodyNeverSent = "PUT /user-service/update HTTP/1.1\r\nHost: localhost\r\nContent-Length: 60\r\n\r\n{\"id\": 1"
            let keptAlive = "GET /user-service/1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
            for start in [partialHead, bodyNeverSent, keptAlive] {
                try await RawConnection.with(port: users.port) { connection in
                    try await connection.send(start)
                    try await eventually(timeout: .seconds(20), "the service to close the connection") {
                        await connection.transcript.closedByServer
                    }
                    if start == keptAlive { #expect(await connection.transcript.text.hasPrefix("HTTP/1.1 200")) }
                }
            }
            // The service itself still answers.
            #expect(try await users.http.get("/user-service/1").status == 200)
        }
    }

    /// A slow client: its head trickles in a byte every 100 ms, each well within the idle timeout.
    /// It is closed all the same, before the head is complete: the timeout waits for whole request
    /// parts, not bytes (a timer that every byte restarted would keep this connection forever).
    @Test func aHeadTrickledAByteAtATimeIsClosedAfterTheIdleTimeout() async throws {
        try await withStack { stack in
            let users = try await stack.userService(extra: ["HTTP_IDLE_TIMEOUT_SECONDS": "1"])
            let head = "GET /user-service/1 HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + String(repeating: "s", count: 100) + "\r\n\r\n"
            try await RawConnection.with(port: users.port) { connection in
                var sent = 0
                for byte in head {
                    if await connection.transcript.closedByServer { break }
                    try? await connection.send(String(byte))  // fails once the server has closed
                    sent += 1
                    try await Task.sleep(for: .milliseconds(100))  // the client's pace, not a wait for the server
                }
                #expect(await connection.transcript.closedByServer)
                #expect(sent < head.count)
                #expect(!(await connection.transcript.text.contains("HTTP/1.1 200")))
            }
            #expect(try await users.http.get("/user-service/1").status == 200)
        }
    }
}
