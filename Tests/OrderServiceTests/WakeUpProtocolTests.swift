import Foundation
import OrderService
import Postgres
import PostgresTestSupport
import ServiceTestSupport
import Testing

/// The wake-up protocol of `user_service.notify_events()` (docs/design.md#wake-ups): one notifier at a
/// time, and writers that rely on its NOTIFY are waited for by the consumer before it sleeps.
@Suite("order-service: one writer notifies at a time, and no relying writer is left unread")
struct WakeUpProtocolTests {
    /// Takes the notifier token, as a writer committing with a NOTIFY holds it.
    static let takeToken = "SELECT pg_advisory_xact_lock(1162040148, 0)"
    /// Pending slots this session holds: 1 once it relies on another writer's NOTIFY.
    static let myPendingSlots = """
        SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040149 AND pid = pg_backend_pid() AND granted
        """
    /// A consumer session waiting for a relying writer's pending slot.
    static let consumerWaitingForSlot = """
        SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.classid = 1162040149 AND NOT l.granted AND a.usename = 'order_service'
        """

    func embeddedEmail(_ world: OrderWorld, user: Int) async throws -> String {
        try await world.admin.scalar(
            "SELECT string_agg(DISTINCT doc -> 'user' ->> 'email', ',') FROM order_service.purchase_orders WHERE user_id = $1", [user]
        )
    }

    /// The trigger is queued once per transaction, however many events it writes: a bulk write does
    /// not run the wake-up call once per event at its commit (user_service.first_event_of_transaction()).
    @Test func aTransactionWritingManyEventsRunsTheWakeUpCallOnce() async throws {
        try await withOrderWorld { world in
            let calls = """
                SELECT coalesce(max(calls), 0) FROM pg_stat_user_functions WHERE schemaname = 'user_service' AND funcname = 'notify_events'
                """
            let before: Int64 = try await world.admin.scalar(calls)
            let eventsBefore: Int64 = try await world.admin.scalar("SELECT count(*) FROM user_service.events")
            let writer = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                // Counted for this session only; its statistics are sent when it ends.
                try await tx.query("SET LOCAL track_functions = 'pl'")
                try await tx.query("UPDATE user_service.users SET lastname = lastname || 'x'")
            }
            try await writer.commit()
            let written: Int64 = try await world.admin.scalar("SELECT count(*) FROM user_service.events")
            #expect(written - eventsBefore >= 3)
            try await eventually { try await world.admin.scalar(calls) as Int64 > before }
            #expect(try await world.admin.scalar(calls) as Int64 == before + 1)
        }
    }

    @Test func aWriterCommittingWhileAnotherHoldsTheTokenSendsNoNotifyOfItsOwn() async throws {
        try await withOrderWorld { world in
            let received = Mailbox<String>()
            let listening = Task {
                try await world.admin.listen(on: EventConsumer.channel) { events in
                    for await event in events {
                        switch event {
                        case .listening: await received.append("listening")
                        case .notification(let notification): await received.append(notification.payload)
                        case .interrupted, .reacted: break
                        }
                    }
                }
            }
            try await eventually { await received.count == 1 }
            let holder = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query(Self.takeToken)
                try await tx.query("SELECT pg_notify('ecst_events', 'holder')")
            }
            // Committed while the token is held: it relies on the holder.
            try await world.admin.query("UPDATE user_service.users SET email = 'relies@example.com' WHERE id = 1")
            try await holder.commit()
            // Notifications arrive in commit order: had the writer notified, its empty payload
            // would come before the holder's.
            try await eventually { await received.count >= 2 }
            #expect(await received.items[1] == "holder")
            listening.cancel()
            _ = await listening.result
        }
    }

    @Test func aRelyingWriterThatCommitsAfterTheConsumerWokeIsWaitedForAndApplied() async throws {
        try await withOrderWorld { world in
            try await world.admin.query("INSERT INTO order_service.purchase_orders (user_id, product_id, doc) VALUES (2, 1, '{}')")
            // The consumer polls every 30 s: only the protocol can bring the update in time.
            await world.startConsumer()
            try await world.waitUntilCaughtUp()

            // A writer that holds the token (as one does from its pre-commit to the end of its
            // commit): it notifies when it commits.
            let holder = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query(Self.takeToken)
                try await tx.query("UPDATE user_service.users SET email = 'holder@example.com' WHERE id = 1")
            }

            // A writer that decides now (its wake-up trigger fired at once) and commits only after
            // the holder's NOTIFY has woken the consumer, which then reads without its event.
            let writer = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("SET CONSTRAINTS user_service.events_notify IMMEDIATE")
                try await tx.query("UPDATE user_service.users SET email = 'relied-late@example.com' WHERE id = 2")
                let slots: Int = try await tx.query(Self.myPendingSlots)[0].decode(0)
                #expect(slots == 1)
            }
            try await holder.commit()
            // Woken by the holder's NOTIFY, the consumer reads while the relying writer is open.
            try await eventually("the holder's update to arrive") { try await embeddedEmail(world, user: 1) == "holder@example.com" }
            try await eventually("the consumer to wait for the relying writer") {
                try await world.admin.scalar(Self.consumerWaitingForSlot, as: Int.self) == 1
            }
            try await writer.commit()
            // Nobody notifies for it: only the consumer's wait for the slot brings it in time.
            try await eventually(timeout: .seconds(10), "the relying writer's update to arrive") {
                try await embeddedEmail(world, user: 2) == "relied-late@example.com"
            }
        }
    }

    /// `relying_writer_slots()` skips reading pg_locks only when no transaction with an id runs. A
    /// relying writer that took its id after every finished transaction is not in the snapshot's
    /// list of running ones (its id is at or above xmax): only the id the check takes shows it.
    /// (Alone on the server that is the case here; beside other tests' transactions the list is
    /// seldom empty and pg_locks is read anyway.)
    @Test func pendingSlotsAreReadWhileAWriterWithAnIdAboveTheSnapshotsXmaxRuns() async throws {
        try await withOrderWorld { world in
            let slot = Mailbox<Int32>()
            let writer = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                // A writer between taking its pending slot and the end of its commit, as one that relies is.
                try await tx.query("UPDATE user_service.users SET email = 'pending@example.com' WHERE id = 1")
                try await tx.query("SELECT pg_advisory_xact_lock_shared(1162040149, (pg_current_xact_id()::text::bigint % 1024)::int)")
                await slot.append(try await tx.query("SELECT (pg_current_xact_id()::text::bigint % 1024)::int")[0].decode(0))
            }
            let held: [Int32] = try await world.admin.query("SELECT user_service.relying_writer_slots()")[0].decode(0)
            #expect(held.contains(await slot.items[0]))
            try await writer.commit()
            let after: [Int32] = try await world.admin.query("SELECT user_service.relying_writer_slots()")[0].decode(0)
            #expect(!after.contains(await slot.items[0]))
        }
    }

    /// `apply_next_chunk()` asks for the pending slots only when its snapshot shows a transaction
    /// with an id besides its own; a relying writer whose id is at or above that snapshot's xmax
    /// shows only there, so the check must count it, and the chunk must not be read past it.
    @Test func theConsumersStepReportsARelyingWriterWithAnIdAboveItsSnapshotsXmax() async throws {
        try await withOrderWorld { world in
            try await world.admin.query("INSERT INTO order_service.consumer_positions (consumer) VALUES ('relying-check')")
            let slot = Mailbox<Int32>()
            let writer = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("UPDATE user_service.users SET email = 'pending@example.com' WHERE id = 1")
                try await tx.query("SELECT pg_advisory_xact_lock_shared(1162040149, (pg_current_xact_id()::text::bigint % 1024)::int)")
                await slot.append(try await tx.query("SELECT (pg_current_xact_id()::text::bigint % 1024)::int")[0].decode(0))
            }
            let step = try await world.admin.query("SELECT relying_writers, more FROM order_service.apply_next_chunk('relying-check')")[0]
            #expect(try step.decode("relying_writers", as: [Int32].self).contains(await slot.items[0]))
            try await writer.commit()
            let next = try await world.admin.query("SELECT relying_writers, events FROM order_service.apply_next_chunk('relying-check')")[0]
            #expect(try !next.decode("relying_writers", as: [Int32].self).contains(await slot.items[0]))
            #expect(try next.decode("events", as: Int32.self) == 1)
        }
    }

    @Test func aTransactionRunsTheWakeUpTriggerOnceHoweverManyEventsItWrites() async throws {
        try await withOrderWorld { world in
            let calls: [Int] = try await world.admin.withTransaction { tx in
                try await tx.query("SET LOCAL track_functions = 'pl'")
                try await tx.query("SET CONSTRAINTS user_service.events_notify IMMEDIATE")
                let count = "SELECT coalesce(sum(calls), 0)::int FROM pg_stat_xact_user_functions WHERE funcname = 'notify_events'"
                try await tx.query("UPDATE user_service.users SET lastname = lastname || '!'")
                let afterFour: Int = try await tx.query(count)[0].decode(0)
                try await tx.query("UPDATE user_service.products SET price = price + 1")
                let afterSeven: Int = try await tx.query(count)[0].decode(0)
                return [afterFour, afterSeven]
            }
            #expect(calls == [1, 1])
            // The next transaction fires it again (the counts of this session's earlier
            // transactions may still be pending in the view: count the difference).
            let again: Int = try await world.admin.withTransaction { tx in
                try await tx.query("SET LOCAL track_functions = 'pl'")
                try await tx.query("SET CONSTRAINTS user_service.events_notify IMMEDIATE")
                let count = "SELECT coalesce(sum(calls), 0)::int FROM pg_stat_xact_user_functions WHERE funcname = 'notify_events'"
                let before: Int = try await tx.query(count)[0].decode(0)
                try await tx.query("UPDATE user_service.users SET lastname = lastname || '!' WHERE id = 1")
                return try await tx.query(count)[0].decode(0) - before
            }
            #expect(again == 1)
        }
    }

    /// The consumer's listening sessions of this test's database: listening (idle) and waiting for
    /// the wake-up lead (a lock wait).
    func listeners(_ world: OrderWorld) async throws -> (listening: Int, waiting: Int) {
        let row = try await world.admin.query(
            """
            SELECT count(*) FILTER (WHERE state = 'idle')::int, count(*) FILTER (WHERE wait_event_type = 'Lock')::int
            FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()
            """,
            [EventConsumer.listenerName]
        )[0]
        return (try row.decode(0), try row.decode(1))
    }

    @Test func onlyOneOrderServiceListensAndAStandbyTakesOverWhenItsSessionEnds() async throws {
        try await withOrderWorld { world in
            let first = await world.startConsumer(identity: "first")
            try await world.waitUntilCaughtUp()
            try await eventually { try await listeners(world) == (1, 0) }
            // A standby's listening session waits for the lead instead of waking at every
            // notification.
            await world.startConsumer(identity: "second")
            try await eventually { try await listeners(world) == (1, 1) }
            await first.stop()
            try await eventually { try await listeners(world) == (1, 0) }
            // The second applies on wake-ups now (its poll is 30 s away).
            try await world.admin.query("UPDATE user_service.users SET email = 'taken-over@example.com' WHERE id = 1")
            try await eventually { try await embeddedEmail(world, user: 1) == "taken-over@example.com" }
        }
    }

    /// A statement that waits holds its snapshot: a standby waiting for the lead in one call held
    /// the server's xmin horizon for as long as it stood by, and vacuum and HOT pruning removed
    /// nothing newer (the benchmark's later shapes slowed down by milliseconds per apply).
    @Test func aStandbyWaitingForTheLeadDoesNotHoldBackTheXminHorizon() async throws {
        try await withOrderWorld { world in
            await world.startConsumer(identity: "first")
            try await world.waitUntilCaughtUp()
            await world.startConsumer(identity: "second")
            try await eventually { try await listeners(world) == (1, 1) }
            // A transaction id handed out after the standby began to wait: its snapshot moves past it.
            let later: Int64 = try await world.admin.scalar("SELECT (txid_current() % 4294967296)::bigint")
            try await eventually(timeout: .seconds(30), "the waiting standby's snapshot to move past a later transaction") {
                try await world.admin.scalar(
                    """
                    SELECT count(*)::int FROM pg_stat_activity
                    WHERE application_name = $1 AND datname = current_database() AND wait_event_type = 'Lock'
                      AND backend_xmin::text::bigint > $2
                    """,
                    [EventConsumer.listenerName, later], as: Int.self
                ) > 0
            }
        }
    }

    @Test func theLeaderReadsAgainAfterAnotherProcessHeldThePosition() async throws {
        try await withOrderWorld { world in
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await eventually { try await listeners(world) == (1, 0) }
            // Another process applying (a standby's poll): it holds the position row, and the
            // update's notification wakes only the leader, which finds the row busy.
            let holder = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("SELECT 1 FROM order_service.consumer_positions FOR UPDATE")
            }
            try await world.admin.query("UPDATE user_service.users SET email = 'after-holder@example.com' WHERE id = 1")
            try await eventually {
                let waiting: Int = try await world.admin.scalar(
                    """
                    SELECT count(*)::int FROM pg_stat_activity
                    WHERE application_name = 'order-service/apply' AND wait_event_type = 'Lock' AND datname = current_database()
                    """)
                return waiting == 1
            }
            try await holder.commit()
            // Its poll is 30 s away: only reading again after the holder can bring it in time.
            try await eventually { try await embeddedEmail(world, user: 1) == "after-holder@example.com" }
        }
    }
}
