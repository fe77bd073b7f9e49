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
            try await waitForLagZero(orders)

            let stream = UpdateStream(users)
            try await stream.acknowledges(20, "at the start")

            try await cluster.stopServer()
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

            try await cluster.startServer()
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
            try await waitForLagZero(orders)
            let stream = UpdateStream(users)
            try await stream.acknowledges(50, "before the crash")

            try await cluster.crashServer()
            try await cluster.startServer()
            try await expectRecovered(stack, users, orders, stream, after: "the crash")
        }
    }

    /// A crash in the middle of a batch: the batch's rows (batch_entities, unlogged) are gone after
    /// recovery, but its snapshots and entity cursor are not. The consumer reads the same batch again
    /// and goes on after the cursor: each event applied once, every order consistent, and the lag
    /// counted right while the rows are missing, as on a hot standby, which cannot read them
    /// (docs/design.md#reading-the-log-in-commit-order).
    @Test(.enabled(if: runsProcesses)) func aCrashInTheMiddleOfABatchLosesItsRowsAndTheConsumerGoesOnFromItsCursor() async throws {
        try await withStackOnItsOwnCluster(durable: true) { stack, cluster in
            try await stack.admin.query(
                "INSERT INTO user_service.users (firstname, lastname, email) SELECT 'F', 'L', 'u' || i || '@example.com' FROM generate_series(1, 3000) AS i"
            )
            let first = try await stack.orderService()
            try await waitForLagZero(first)
            first.process.signal(SIGTERM)
            _ = try await first.process.waitForExit()
            try await stack.admin.query(
                "INSERT INTO order_service.purchase_orders (user_id, product_id, doc) SELECT u.id, 1, jsonb_build_object('product', order_service.product_document(1, 'IPad'), 'price', 300) FROM user_service.users u WHERE u.id > 4"
            )
            try await stack.admin.query("UPDATE user_service.users SET email = 'after-' || id || '@example.com'")
            let total: Int = try await stack.admin.scalar("SELECT count(*)::int FROM user_service.events")

            // Held in the middle, as in the end-to-end catch-up test: its third chunk of 500 entities
            // waits on a replica row locked here, after two have committed.
            let held = try await stack.orderServiceKilledWhileWaiting(on: "SELECT FROM order_service.users WHERE id = 1200 FOR UPDATE")
            try await held.rollback()
            try await eventually(timeout: .seconds(30), "the killed order-service's sessions to end") {
                try await stack.admin.scalar("SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'order-service%'")
            }
            // Every event is either applied (counted once) or still to apply (the lag).
            let progress = "SELECT applied_events::int, lag::int FROM order_service.consumer_lag"
            let before = try await stack.admin.query(progress)[0]
            let rowsBefore: Int = try await stack.admin.scalar("SELECT count(*)::int FROM order_service.batch_entities")
            #expect(rowsBefore > 0)
            #expect(try before.decode(1, as: Int.self) > 0)
            #expect(try before.decode(0, as: Int.self) + before.decode(1, as: Int.self) == total)
            // A hot standby, where PostgreSQL refuses to plan any query naming an unlogged table,
            // counts the same lag from the log.
            let standby = try await LocalCluster.startStandby(of: cluster)
            try await PostgresClient.withClient(configuration: .init(connectionString: "postgresql://postgres@127.0.0.1:\(standby.port)/ecst")) { replica in
                let lag: Int = try await replica.scalar("SELECT lag::int FROM order_service.consumer_lag")
                #expect(try lag == before.decode(1, as: Int.self))
            }
            try await standby.stopServer()

            try await cluster.crashServer()
            try await cluster.startServer()
            try await eventually(timeout: .seconds(30), "the server to accept queries") {
                (try? await stack.admin.query("SELECT 1")) != nil
            }
            let rowsAfter: Int = try await stack.admin.scalar("SELECT count(*)::int FROM order_service.batch_entities")
            #expect(rowsAfter == 0)
            let inBatch: Bool = try await stack.admin.scalar("SELECT batch_snapshot IS NOT NULL FROM order_service.consumer_positions")
            #expect(inBatch)
            // (The consumer commits asynchronously: the crash may also have taken its last chunk.)
            let after = try await stack.admin.query(progress)[0]
            #expect(try after.decode(1, as: Int.self) > 0)
            #expect(try after.decode(0, as: Int.self) + after.decode(1, as: Int.self) == total)

            let restarted = try await stack.orderService(extra: ["CONSUMER_CHUNK_SIZE": "500"])
            try await waitForLagZero(restarted)
            #expect(try await stack.inconsistentOrders() == 0)
            let applied: Int = try await stack.admin.scalar("SELECT applied_events::int FROM order_service.consumer_positions")
            #expect(applied == total)
            let stale: Int = try await stack.admin.scalar("SELECT count(*)::int FROM order_service.users WHERE email NOT LIKE 'after-%'")
            #expect(stale == 0)
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
        try await stack.expectCaughtUpApplyingEachEventOnce(orders)
    }
}
