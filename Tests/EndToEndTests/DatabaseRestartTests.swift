import Foundation
import Postgres
import PostgresTestSupport
import Testing

@Suite("end to end: PostgreSQL restarted under load")
struct DatabaseRestartTests {
    struct ErrorReply: Decodable {
        struct Detail: Decodable {
            var status: Int
            var message: String
        }
        var error: Detail
    }

    @Test(.enabled(if: runsProcesses)) func bothServicesAnswer503WhileItIsDownRecoverAndLoseNothing() async throws {
        try await withStackOnItsOwnCluster { stack, cluster in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await waitForLagZero(orders.http)

            let stream = UpdateStream(users)
            try await stream.acknowledges(20, "at the start")

            try cluster.stopServer()
            for service in [users, orders] {
                try await eventually(timeout: .seconds(15), "503 from /health") {
                    (try? await service.http.get("/health").status) == 503
                }
                let health = try await service.http.get("/health")
                #expect(try health.json(ErrorReply.self).error.status == 503)
            }
            let refused = try await users.http.put("/user-service/update", #"{"id": 1, "firstname": "F", "lastname": "L", "email": "down@example.com"}"#)
            #expect(refused.status == 503)
            #expect(try refused.json(ErrorReply.self).error.status == 503)
            let ordersDown = try await orders.http.get("/order-service/all")
            #expect(ordersDown.status == 503)

            try cluster.startServer()
            try await expectRecovered(stack, users, orders, stream, after: "the restart")
        }
    }

    /// A crash, not a shutdown: every PostgreSQL process quits at once, with nothing more
    /// written, while updates stream in and the consumer applies them; the next start recovers
    /// from the WAL. On a durable cluster every update acknowledged before the crash survives, and
    /// the consumer resumes from its stored position: each event applied once, the orders
    /// consistent with the users.
    @Test(.enabled(if: runsProcesses)) func aCrashLosesNoAcknowledgedUpdateAndTheConsumerAppliesEachEventOnce() async throws {
        try await withStackOnItsOwnCluster(durable: true) { stack, cluster in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await waitForLagZero(orders.http)
            let stream = UpdateStream(users)
            try await stream.acknowledges(50, "before the crash")

            try cluster.crashServer()
            try cluster.startServer()
            try await expectRecovered(stack, users, orders, stream, after: "the crash")
        }
    }

    /// With the server back: both services healthy and running, 20 more updates acknowledged, no
    /// acknowledged update lost, and the consumer caught up having applied each event once, every
    /// order consistent with the users.
    func expectRecovered(_ stack: Stack, _ users: RunningService, _ orders: RunningService, _ stream: UpdateStream, after: String) async throws {
        for service in [users, orders] {
            try await eventually(timeout: .seconds(30), "recovery") { await service.http.healthy() }
        }
        try await stream.acknowledges(20, "after \(after)")
        await stream.stop()

        #expect(users.process.exitCode == nil)
        #expect(orders.process.exitCode == nil)
        #expect(try await stream.lostUpdates(stack.admin) == [])
        try await waitForLagZero(orders.http)
        let events: Int = try await stack.admin.scalar("SELECT count(*)::int FROM user_service.events")
        let applied: Int = try await stack.admin.scalar("SELECT applied_events::int FROM order_service.consumer_positions")
        #expect(applied == events)
        #expect(try await stack.inconsistentOrders() == 0)
    }
}

/// A steady stream of updates to four users through the user-service, remembering the last one
/// acknowledged (200) per user.
final class UpdateStream: Sendable {
    private let acknowledged = Mailbox<(Int, String)>()
    private let stopped = Mailbox<Bool>()
    private let writer: Task<Void, Never>

    init(_ users: RunningService) {
        let (acknowledged, stopped) = (acknowledged, stopped)
        writer = Task {
            var i = 0
            while await stopped.count == 0 {
                i += 1
                let user = 1 + i % 4
                let email = "stream-\(i)@example.com"
                let reply = try? await users.http.request(
                    .PUT, "/user-service/update",
                    body: #"{"id": \#(user), "firstname": "F", "lastname": "L\#(i)", "email": "\#(email)"}"#,
                    timeout: .seconds(10)
                )
                if reply?.status == 200 { await acknowledged.append((user, email)) }
            }
        }
    }

    /// Waits for `count` more acknowledgements (a deadline for a CI machine running every suite at
    /// once, not a speed requirement).
    func acknowledges(_ count: Int, _ when: String) async throws {
        let before = await acknowledged.count
        try await eventually(timeout: .seconds(30), "\(count) acknowledged updates \(when)") { await acknowledged.count >= before + count }
    }

    func stop() async {
        await stopped.append(true)
        _ = await writer.value
    }

    /// The users whose stored email is not the last one acknowledged for them.
    func lostUpdates(_ database: PostgresClient) async throws -> [Int] {
        var last: [Int: String] = [:]
        for (user, email) in await acknowledged.items { last[user] = email }
        var lost: [Int] = []
        for (user, email) in last.sorted(by: { $0.key < $1.key }) {
            let stored: String = try await database.scalar("SELECT email FROM user_service.users WHERE id = $1", [user])
            if stored != email { lost.append(user) }
        }
        return lost
    }
}
