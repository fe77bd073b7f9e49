import Foundation
import OrderService
import Postgres
import PostgresTestSupport
import Testing

/// `user_service.notify_events()` notifies only while a consumer waits (see schema.sql).
@Suite("order-service: writers notify only while a consumer waits")
struct NotifyGateTests {
    /// Advisory slot locks held by the session: 1 when its writes skipped the NOTIFY.
    static let mySlotLocks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040148 AND pid = pg_backend_pid()"
    /// Slots held in shared mode by waiting consumers.
    static let waitingSlots = """
        SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040148 AND mode = 'ShareLock' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    func embeddedEmail(_ world: OrderWorld, user: Int) async throws -> String {
        try await world.admin.scalar(
            "SELECT string_agg(DISTINCT doc -> 'user' ->> 'email', ',') FROM order_service.purchase_orders WHERE user_id = $1", [user]
        )
    }

    @Test func aWriterSkipsTheNotifyWhileNoConsumerWaitsAndSendsItWhenOneDoes() async throws {
        try await withOrderWorld { world in
            let skipped: Int = try await world.admin.withTransaction { tx in
                try await tx.query("UPDATE user_service.users SET email = 'nobody-waits@example.com' WHERE id = 1")
                return try await tx.query(Self.mySlotLocks)[0].decode(0)
            }
            #expect(skipped == 1)

            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await eventually("the consumer to wait on every slot") { try await world.admin.scalar(Self.waitingSlots, as: Int.self) == 64 }
            let notified: Int = try await world.admin.withTransaction { tx in
                try await tx.query("UPDATE user_service.users SET email = 'someone-waits@example.com' WHERE id = 1")
                return try await tx.query(Self.mySlotLocks)[0].decode(0)
            }
            #expect(notified == 0)
            // The consumer polls every 30 s here: only the notification can wake it in time.
            try await eventually(timeout: .seconds(10), "the notified update to arrive") {
                try await embeddedEmail(world, user: 1) == "someone-waits@example.com"
            }
        }
    }

    @Test func aWriterThatSkippedTheNotifyAndCommitsWhileTheConsumerArmsIsStillApplied() async throws {
        try await withOrderWorld { world in
            try await world.admin.query("INSERT INTO order_service.purchase_orders (user_id, product_id, doc) VALUES (2, 1, '{}')")
            // Written while no consumer waits, so it skips the NOTIFY and holds its slot until it
            // commits, which it does only once the consumer is waiting on every other slot.
            let writer = PostgresClient(configuration: world.database.configuration)
            let updated = Mailbox<Bool>()
            let mayCommit = Mailbox<Bool>()
            let inFlight = Task {
                try await writer.withTransaction { tx in
                    try await tx.query("UPDATE user_service.users SET email = 'in-flight@example.com' WHERE id = 2")
                    let skipped: Int = try await tx.query(Self.mySlotLocks)[0].decode(0)
                    #expect(skipped == 1)
                    await updated.append(true)
                    try await eventually(timeout: .seconds(60)) { await mayCommit.count > 0 }
                }
            }
            try await eventually { await updated.count == 1 }
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await eventually("the consumer to wait on all slots but the writer's") {
                try await world.admin.scalar(Self.waitingSlots, as: Int.self) == 63
            }
            await mayCommit.append(true)
            try await inFlight.value
            await writer.close()
            // No NOTIFY was sent and the consumer polls every 30 s: it must find the event by
            // taking the freed slot and rereading.
            try await eventually(timeout: .seconds(10), "the in-flight update to arrive") {
                try await embeddedEmail(world, user: 2) == "in-flight@example.com"
            }
            try await eventually("the consumer to wait on every slot again") { try await world.admin.scalar(Self.waitingSlots, as: Int.self) == 64 }
        }
    }
}
