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
