import Foundation
import OrderService
import Postgres
import PostgresTestSupport
import ServiceTestSupport
import Testing

@Suite("order-service: the event consumer")
struct ConsumerTests {
    /// Users 5...(4+n), each with two orders, written by SQL as user_service would.
    func addUsersWithOrders(_ world: OrderWorld, count n: Int) async throws {
        try await world.admin.query(
            """
            INSERT INTO user_service.users (firstname, lastname, email)
            SELECT 'First' || i, 'Last' || i, 'u' || i || '@example.com' FROM generate_series(1, $1::int) AS i
            """,
            [n]
        )
        try await world.admin.query(
            """
            INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
            SELECT u.id, 1 + (u.id + k) % 3, jsonb_build_object('user', '{}'::jsonb, 'product', '{}'::jsonb, 'price', 1)
            FROM user_service.users u, generate_series(1, 2) AS k WHERE u.id > 4
            """
        )
    }

    @Test func aLaterTransactionIsAppliedWhileAnEarlierWriterIsStillOpenAndTheEarlierOneArrivesAfter() async throws {
        try await withOrderWorld { world in
            try await world.admin.query(
                "INSERT INTO order_service.purchase_orders (user_id, product_id, doc) VALUES (2, 1, '{}'), (3, 2, '{}')"
            )
            await world.startConsumer()
            try await world.waitUntilCaughtUp()

            // Writer A takes its transaction id and event id first, and stays open.
            let writerA = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("UPDATE user_service.users SET email = 'a@writer.a' WHERE id = 2")
            }
            // Writer B: a later transaction and a larger event id, committed at once.
            try await world.admin.query("UPDATE user_service.users SET email = 'b@writer.b' WHERE id = 3")
            let bEvent: Int = try await world.admin.scalar(
                "SELECT max(id) FROM user_service.events WHERE aggregate_type = 'user' AND aggregate_id = 3"
            )
            try await eventually("B's change while A is open") {
                let email: String = try await world.admin.scalar(
                    "SELECT doc -> 'user' ->> 'email' FROM order_service.purchase_orders WHERE user_id = 3 ORDER BY id LIMIT 1"
                )
                return email == "b@writer.b"
            }
            let aStillOpen: Int = try await world.admin.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = current_database() AND query LIKE '%a@writer.a%'"
            )
            #expect(aStillOpen == 1)
            let positionPassedB = try #require(try await world.status()).position
            #expect(positionPassedB >= Int64(bEvent))

            try await writerA.commit()
            // A's event has the smaller id, committed later: a reader that kept only "the last
            // id" would skip it for good.
            let aEventID: Int = try await world.admin.scalar(
                "SELECT max(id) FROM user_service.events WHERE aggregate_type = 'user' AND aggregate_id = 2"
            )
            #expect(aEventID < bEvent)
            try await eventually("A's change after it commits") {
                let email: String = try await world.admin.scalar(
                    "SELECT doc -> 'user' ->> 'email' FROM order_service.purchase_orders WHERE user_id = 2 ORDER BY id LIMIT 1"
                )
                return email == "a@writer.a"
            }
            #expect(try await world.inconsistentOrders() == 0)
        }
    }

    @Test func catchesUpAfterBeingStoppedDuringAThousandUpdates() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 50)
            try await world.catchUpAndStop()

            for round in 1...20 {
                try await world.admin.query("UPDATE user_service.users SET email = 'r\(round)-' || id || '@example.com' WHERE id > 4")
                if round % 5 == 0 {
                    try await world.admin.query("UPDATE user_service.products SET description = 'P' || id || ' rev \(round)'")
                }
            }
            let pending = try #require(try await world.status()).lag
            #expect(pending == 1_000 + 4 * 3)
            #expect(try await world.inconsistentOrders() == 100 + 1)  // and the seeded order's product

            // Count order-document writes: each entity should be re-embedded once, at its latest
            // state, not once per event.
            try await world.admin.query("CREATE TABLE public.order_writes (id bigint)")
            try await world.admin.query(
                """
                CREATE FUNCTION public.count_order_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
                BEGIN INSERT INTO public.order_writes VALUES (NEW.id); RETURN NULL; END $$
                """
            )
            try await world.admin.query(
                "CREATE TRIGGER count_writes AFTER UPDATE ON order_service.purchase_orders FOR EACH ROW EXECUTE FUNCTION public.count_order_write()"
            )

            // A small chunk size makes the catch-up go in many bounded transactions.
            await world.startConsumer(chunkSize: 64)
            try await world.waitUntilCaughtUp()
            #expect(try await world.inconsistentOrders() == 0)
            // 20 user rounds and 4 product rounds: at most one write for the users' latest state and
            // one for the products' per order (101 orders), instead of 2,404 one event at a time.
            let writes: Int = try await world.admin.scalar("SELECT count(*) FROM public.order_writes")
            #expect(writes <= 2 * 101)
            let status = try #require(try await world.status())
            #expect(status.appliedEvents == Int64(try await world.eventCount()))
            #expect(status.head == status.position)
        }
    }

    @Test func aChunkEndingInsideTransactionsWithInterleavedIdsResumesAfterItsLastEventNotItsLargestId() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 4)  // users 5...8
            // Writer A takes the smaller transaction id and two events, the second with a larger id
            // than both of B's (ids come from a sequence, which a transaction does not hold back).
            let sequence = "pg_get_serial_sequence('user_service.events', 'id')"
            let writerA = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("UPDATE user_service.users SET email = 'a1@x.io' WHERE id = 5")
                try await tx.query("SELECT setval(\(sequence), currval(\(sequence)) + 100)")
                try await tx.query("UPDATE user_service.users SET email = 'a2@x.io' WHERE id = 6")
                try await tx.query("SELECT setval(\(sequence), currval(\(sequence)) - 100)")
            }
            try await world.admin.query("UPDATE user_service.users SET email = 'b-' || id || '@x.io' WHERE id IN (7, 8)")
            try await writerA.commit()
            let written = try await world.admin.query(
                "SELECT aggregate_id, id FROM user_service.events WHERE aggregate_type = 'user' AND aggregate_id >= 5 AND version > 1 ORDER BY xid, id"
            )
            #expect(try written.map { try $0.decode(0, as: Int.self) } == [5, 6, 7, 8])
            let eventIDs = try written.map { try $0.decode(1, as: Int.self) }
            #expect(eventIDs[1] > eventIDs[3])

            // A chunk ends at B's first event: (xid, id) order puts A's two before it, so the
            // cursor must be that event, not the chunk's largest id (A's second), which would
            // skip B's second event.
            let before: Int = try await world.admin.scalar(
                "SELECT count(*) FROM user_service.events WHERE NOT (aggregate_type = 'user' AND aggregate_id >= 5 AND version > 1)"
            )
            await world.startConsumer(chunkSize: before + 3)
            try await world.waitUntilCaughtUp()
            #expect(try await world.inconsistentOrders() == 0)
            #expect(try #require(try await world.status()).appliedEvents == Int64(try await world.eventCount()))
        }
    }

    /// A wake-up's chunk upserts the users from its own rows (schema.sql, apply_next_chunk): each
    /// user to its latest usable version in the chunk, never over a newer replica row, and the
    /// products beside them through refresh_replica.
    @Test func aWakeUpWithSeveralVersionsOfAUserEndsAtItsLatestUsableOneAndNeverOverANewerRow() async throws {
        try await withOrderWorld { world in
            try await world.catchUpAndStop()
            // Pending at once: user 1 twice, then a newer event of it that cannot be applied; user 2
            // twice in one transaction; user 3, whose replica row is already ahead of its event
            // (as after a rebuild from a later log); and a product.
            try await world.admin.query("UPDATE user_service.users SET email = 'one-a@x.io' WHERE id = 1")
            try await world.admin.query("UPDATE user_service.users SET email = 'one-b@x.io' WHERE id = 1")
            try await world.admin.query(
                "INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload) VALUES ('user', 1, 100, 'UserUpdated', '{\"firstname\": 5}')"
            )
            let twice = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("UPDATE user_service.users SET email = 'two-a@x.io' WHERE id = 2")
                try await tx.query("UPDATE user_service.users SET email = 'two-b@x.io' WHERE id = 2")
            }
            try await twice.commit()
            try await world.admin.query("UPDATE order_service.users SET email = 'ahead@x.io', version = 50 WHERE id = 3")
            try await world.admin.query("UPDATE user_service.users SET email = 'three@x.io' WHERE id = 3")
            try await world.admin.query("UPDATE user_service.products SET description = 'Pad' WHERE id = 1")

            let client = PostgresClient(configuration: consumerConfiguration(world.database.configuration(asUser: "order_service")))
            let applier = EventApplier(database: client, consumer: defaultConsumerName, identity: "test")
            let outcome = try await applier.applyNextChunk()
            await client.close()
            guard case .applied(let chunk, let more, _) = outcome else {
                Issue.record("the position was busy")
                return
            }
            #expect(chunk.events == 7)
            #expect(!more)
            #expect(chunk.deadLetters.count == 1)
            let replica = try await world.replicaUsers(upTo: 3)
            #expect(replica[0] == "1 one-b@x.io 3")
            #expect(replica[1] == "2 two-b@x.io 3")
            #expect(replica[2] == "3 ahead@x.io 50")
            let description: String = try await world.admin.scalar("SELECT description FROM order_service.products WHERE id = 1")
            #expect(description == "Pad")
            // The seed's order (user 1, product 1) embeds both new states.
            #expect(try await world.embedded(inOrder: 1) == "one-b@x.io Pad")
        }
    }

    /// The same kinds of event in a backlog larger than a chunk (a batch: read whole at its start,
    /// one row per entity, then applied two entities a chunk): the unusable events are
    /// dead-lettered wherever they fall, and each user ends at its latest usable version.
    @Test func aBacklogInFullChunksDeadLettersItsUnusableEventsAndEndsAtTheLatestUsableVersions() async throws {
        try await withOrderWorld { world in
            try await world.catchUpAndStop()
            try await world.admin.query("UPDATE user_service.users SET email = 'one-a@x.io' WHERE id = 1")
            try await world.admin.query("UPDATE user_service.users SET email = 'one-b@x.io' WHERE id = 1")
            try await world.admin.query(
                """
                INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload) VALUES
                    ('user', 1, 100, 'UserUpdated', '{"firstname": 5}'),
                    ('user', 2, 100, 'UserRenamed', '{"firstname": "X"}')
                """
            )
            try await world.admin.query("UPDATE user_service.users SET email = 'two@x.io' WHERE id = 2")
            try await world.admin.query("UPDATE user_service.products SET description = 'Pad' WHERE id = 1")
            let pending: Int = try await world.admin.scalar(
                "SELECT count(*) FROM order_service.pending_events((SELECT snapshot FROM order_service.consumer_positions), pg_current_snapshot())"
            )
            #expect(pending == 6)
            let chunksBefore: Int = try await world.admin.scalar("SELECT applied_batches::int FROM order_service.consumer_positions")

            await world.startConsumer(chunkSize: 2)
            try await world.waitUntilCaughtUp()
            let reasons = try await world.admin.query("SELECT reason FROM order_service.dead_letters ORDER BY event_id")
                .map { try $0.decode(0, as: String.self) }
            #expect(reasons.count == 2)
            #expect(reasons.first?.contains("user payload needs") == true)
            #expect(reasons.last?.contains("unknown event type UserRenamed") == true)
            let replica = try await world.replicaUsers(upTo: 2)
            #expect(replica == ["1 one-b@x.io 3", "2 two@x.io 2"])
            #expect(try await world.inconsistentOrders() == 0)
            #expect(try await world.embedded(inOrder: 1) == "one-b@x.io Pad")
            // Three entities (users 1 and 2, product 1), two a chunk.
            let chunks: Int = try await world.admin.scalar("SELECT applied_batches::int FROM order_service.consumer_positions")
            #expect(chunks - chunksBefore == 2)
            #expect(try await world.status()?.appliedEvents == Int64(try await world.eventCount()))
        }
    }

    /// A database upgraded in the middle of a batch that the previous version walked event by event
    /// holds a cursor beside the batch's snapshot and no batch_entities rows: the consumer applies
    /// the rest of that batch from the cursor, neither skipping it nor counting again what the
    /// cursor says was applied.
    @Test func aBatchLeftWithAnEventCursorByAnEarlierVersionIsFinishedFromItsCursor() async throws {
        try await withOrderWorld { world in
            try await world.catchUpAndStop()
            for round in 1...2 {
                try await world.admin.query("UPDATE user_service.users SET email = 'r\(round)-' || id || '@x.io' WHERE id IN (1, 2)")
            }
            try await world.admin.query("UPDATE user_service.users SET email = 'last@x.io' WHERE id = 3")
            // The earlier version had applied the first round (users 1 and 2) and stopped there.
            let before = try #require(try await world.status())
            try await world.admin.query(
                """
                UPDATE order_service.consumer_positions p
                SET batch_snapshot = pg_current_snapshot(), cursor_xid = c.xid, cursor_id = c.id,
                    applied_events = p.applied_events + 2
                FROM (SELECT e.xid, e.id FROM order_service.pending_events(
                          (SELECT snapshot FROM order_service.consumer_positions), pg_current_snapshot()) e
                      ORDER BY e.xid, e.id OFFSET 1 LIMIT 1) c
                """
            )
            await world.startConsumer()
            try await eventually("the batch finished") {
                try await world.admin.scalar("SELECT batch_snapshot IS NULL FROM order_service.consumer_positions", as: Bool.self)
            }
            let replica = try await world.replicaUsers(upTo: 3)
            #expect(replica[0].hasPrefix("1 r2-1@x.io"))
            #expect(replica[1].hasPrefix("2 r2-2@x.io"))
            #expect(replica[2].hasPrefix("3 last@x.io"))
            let after = try #require(try await world.status())
            #expect(after.appliedEvents == before.appliedEvents + 5)
            #expect(after.lag == 0)
            let cursor: Bool = try await world.admin.scalar("SELECT cursor_xid IS NULL AND cursor_id IS NULL FROM order_service.consumer_positions")
            #expect(cursor)
        }
    }

    /// A second session helps with a batch from the top of its users down to the applier's cursor
    /// (order_service.help_batch): the applier, reaching them, ends the batch and counts their
    /// events without applying them again; every event counted once, every order current. The
    /// batch's read commits alone, so the helper can start before the applier's first chunk; near
    /// the applier's cursor it takes half of what is left. The helper leaves a batch with products
    /// still ahead of the cursor to the applier (docs/design.md#reading-the-log-in-commit-order).
    @Test func aHelperAppliesTheTopOfABatchAndTheApplierCountsItOnce() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 60)
            try await world.catchUpAndStop()
            try await world.admin.query("UPDATE user_service.users SET email = 'h' || id || '@x.io'")
            try await world.admin.query("UPDATE user_service.users SET lastname = 'L' || id")
            let total: Int = try await world.admin.scalar("SELECT count(*)::int FROM user_service.events")
            let appliedBefore: Int = try await world.admin.scalar("SELECT applied_events::int FROM order_service.consumer_positions")
            let chunk = "SELECT events, orders_updated, more FROM order_service.apply_next_chunk($1, 10)"
            let help = "SELECT order_service.help_batch($1, $2, 10)"
            func helped(from start: Int64?, times: Int) async throws -> [Int64] {
                var before = start
                var lowest: [Int64] = []
                while lowest.count < times, let next: Int64? = try await world.admin.scalar(help, [defaultConsumerName, before]), let next {
                    lowest.append(next)
                    before = next
                }
                return lowest
            }

            // The batch's first transaction reads it (64 users) and applies nothing.
            let begun = try await world.admin.query(chunk, [defaultConsumerName])[0]
            #expect(try begun.decode(0, as: Int.self) == 0)
            #expect(try begun.decode(2, as: Bool.self))
            #expect(try await world.admin.scalar("SELECT count(*)::int FROM order_service.batch_entities", as: Int.self) == 64)
            // The helper walks down from the top, ten at a time while twenty or more are left.
            #expect(try await helped(from: nil, times: 3) == [55, 45, 35])
            // What it applied is current, and the position has not moved for it.
            #expect(try await world.replicaUsers(upTo: 64).filter { $0.hasPrefix("35 ") || $0.hasPrefix("64 ") } == ["35 h35@x.io 3", "64 h64@x.io 3"])
            #expect(try await world.replicaUsers(upTo: 34).last == "34 u30@example.com 1")
            let appliedMidway: Int = try await world.admin.scalar("SELECT applied_events::int FROM order_service.consumer_positions")
            #expect(appliedMidway == appliedBefore)

            // The applier's first chunk (users 1-10); then 24 are left between it and the helper
            // (11-34): ten, then half of the fourteen left.
            var ordersByApplier = try await world.admin.query(chunk, [defaultConsumerName])[0].decode(1, as: Int.self)
            #expect(try await helped(from: 35, times: 2) == [25, 18])
            while true {
                let row = try await world.admin.query(chunk, [defaultConsumerName])[0]
                ordersByApplier += try row.decode(1, as: Int.self)
                if !(try row.decode(2, as: Bool.self)) { break }
            }
            let applied: Int = try await world.admin.scalar("SELECT applied_events::int FROM order_service.consumer_positions")
            #expect(applied == total)
            // Users 1-17 by the applier, 18-64 by the helper.
            let ordersUpTo17: Int = try await world.admin.scalar("SELECT count(*)::int FROM order_service.purchase_orders WHERE user_id <= 17")
            #expect(ordersByApplier == ordersUpTo17)
            #expect(try await world.inconsistentOrders() == 0)

            // A batch with a product ahead of the cursor: no help.
            try await world.admin.query("UPDATE user_service.users SET email = 'i' || id || '@x.io'")
            try await world.admin.query("INSERT INTO user_service.products (id, description, price, qty_available) VALUES (50, 'Fifty', 5, 5)")
            #expect(try await world.admin.query(chunk, [defaultConsumerName])[0].decode(2, as: Bool.self))
            let refused: Int64? = try await world.admin.scalar(help, [defaultConsumerName, nil as Int64?])
            #expect(refused == nil)
        }
    }

    /// The consumer's helper takes a fifth of the applier's chunk at a time (EventApplier.helpBatch),
    /// so that where the two meet the applier waits for a small chunk in flight
    /// (docs/design.md#reading-the-log-in-commit-order): with chunks of 50, ten users from the top
    /// of a batch of 64, where a chunk as large as the applier's would have taken half of them.
    @Test func theHelperTakesAFifthOfTheAppliersChunk() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 60)
            try await world.catchUpAndStop()
            try await world.admin.query("UPDATE user_service.users SET email = 'f' || id || '@x.io'")
            let applier = EventApplier(database: world.service, consumer: defaultConsumerName, chunkSize: 50, identity: "test")
            guard case .applied(let read, let more, _) = try await applier.applyNextChunk() else { throw EndToEndError("the position is busy") }
            #expect(read.events == 0 && more)
            #expect(try await applier.helpBatch(before: nil) == 55)
            #expect(try await world.replicaUsers(upTo: 64).filter { $0.hasPrefix("54 ") || $0.hasPrefix("55 ") } == ["54 u50@example.com 1", "55 f55@x.io 2"])
        }
    }

    /// A batch's read keeps each entity's latest usable event as its version and the low half of its
    /// id (order_service.batch_work), and tells the id from the entity's highest one. Where the
    /// entity's events in the batch span 2^32 ids or more (a log whose ids jumped), the id is
    /// looked up instead: here user 1's latest usable event has a small id and an unusable one
    /// after it a huge one, and told from the low bits it would name an event that does not exist.
    @Test func aBatchFindsTheLatestEventOfAnEntityWhoseIdsJumped() async throws {
        try await withOrderWorld { world in
            try await world.catchUpAndStop()
            try await world.admin.query("UPDATE user_service.users SET email = 'before@x.io' WHERE id = 1")
            try await world.admin.query("ALTER TABLE user_service.events ALTER COLUMN id RESTART WITH 4294967396")
            try await world.admin.query(
                """
                INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload)
                VALUES ('user', 1, 1000, 'UserUpdated', '{"firstname": "No"}')
                """
            )
            try await world.admin.query("UPDATE user_service.users SET email = 'after-' || id || '@x.io' WHERE id > 1")
            // Chunks of two: the five pending events make a batch.
            while try await world.admin.query(
                "SELECT more FROM order_service.apply_next_chunk($1, 2)", [defaultConsumerName])[0].decode(0, as: Bool.self)
            {}
            let replica = try await world.replicaUsers(upTo: 4)
            #expect(replica.map { $0.split(separator: " ")[1] } == ["before@x.io", "after-2@x.io", "after-3@x.io", "after-4@x.io"])
            #expect(try await world.admin.scalar("SELECT count(*)::int FROM order_service.dead_letters", as: Int.self) == 1)
            #expect(try await world.inconsistentOrders() == 0)
        }
    }

    /// A database upgraded in the middle of a batch that the previous version applied in the old key
    /// order (kind, then id) holds batch_entities rows and an entity cursor in that order: applying
    /// schema.sql re-keys the table by id first and drops the rows the cursor says were applied, so
    /// the rest is applied in the new order, none skipped. Read in the new order, the old cursor
    /// ('product', 2) would have passed user 1 without applying it.
    @Test func aBatchLeftInTheOldKeyOrderIsFinishedAfterTheUpgrade() async throws {
        try await withOrderWorld { world in
            try await world.catchUpAndStop()
            try await world.admin.query("UPDATE user_service.users SET email = 'u' || id || '@x.io' WHERE id IN (1, 2, 3)")
            try await world.admin.query("UPDATE user_service.products SET description = 'P' || id WHERE id IN (1, 2)")
            // The previous version's table, and its batch: started, and its first chunk (the two
            // products, first in the old order) applied.
            try await world.admin.query(
                """
                ALTER TABLE order_service.batch_entities DROP CONSTRAINT batch_entities_pkey,
                    ADD PRIMARY KEY (consumer, aggregate_type, aggregate_id)
                """
            )
            try await world.admin.withTransaction { tx in
                _ = try await tx.query(
                    "UPDATE order_service.consumer_positions SET batch_snapshot = pg_current_snapshot() WHERE consumer = $1",
                    [defaultConsumerName]
                )
                _ = try await tx.query(
                    "SELECT order_service.start_batch($1, snapshot, batch_snapshot) FROM order_service.consumer_positions WHERE consumer = $1",
                    [defaultConsumerName]
                )
                _ = try await tx.query(
                    """
                    SELECT order_service.upsert_replica('{}', (SELECT array_agg(event_id) FROM order_service.batch_entities
                                                               WHERE aggregate_type = 'product'))
                    """
                )
                _ = try await tx.query("SELECT order_service.embed_orders('{}', '{1,2}')")
                _ = try await tx.query(
                    """
                    UPDATE order_service.consumer_positions
                    SET entity_cursor_type = 'product', entity_cursor_id = 2, applied_events = applied_events + 2
                    WHERE consumer = $1
                    """,
                    [defaultConsumerName]
                )
            }
            let before = try #require(try await world.status())
            let database: String = try await world.admin.scalar("SELECT current_database()")
            try await SQLFile.apply(schemaPath, connectionString: try await TestCluster.shared.adminConnectionString(), database: database)
            let key: String = try await world.admin.scalar(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'order_service.batch_entities'::regclass AND contype = 'p'"
            )
            #expect(key == "PRIMARY KEY (consumer, aggregate_id, aggregate_type)")
            let left: Int = try await world.admin.scalar("SELECT count(*) FROM order_service.batch_entities")
            #expect(left == 3)

            await world.startConsumer()
            try await eventually("the batch finished") {
                try await world.admin.scalar("SELECT batch_snapshot IS NULL FROM order_service.consumer_positions", as: Bool.self)
            }
            let replica = try await world.replicaUsers(upTo: 3)
            #expect(replica.map { $0.split(separator: " ")[1] } == ["u1@x.io", "u2@x.io", "u3@x.io"])
            #expect(try await world.embedded(inOrder: 1) == "u1@x.io P1")
            #expect(try await world.inconsistentOrders() == 0)
            let after = try #require(try await world.status())
            #expect(after.appliedEvents == before.appliedEvents + 3)
            #expect(after.lag == 0)
        }
    }

    /// A batch's start reads its events by a sequential scan when they are a quarter of the log or
    /// more, and through the (xid, id) index when fewer: the planner takes any xid8 range for a third
    /// of the table and cannot choose, so start_batch tells the share from ids. A batch read either
    /// way applies the same (docs/design.md#reading-the-log-in-commit-order).
    @Test func aBatchOfMostOfTheLogIsReadSequentiallyAndASmallOneThroughTheIndex() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 200)
            try await world.catchUpAndStop()
            // A batch's start on its own, and the scans it made of the events (the view also holds
            // the session's earlier transactions' counts until they are flushed: the difference);
            // its rows deleted again. It starts from the stored snapshot without the transactions
            // that snapshot lists as running: other tests' (they share the cluster's ids; every
            // event here had committed), whose half of the read a table this small would also
            // scan sequentially once seq scans are on (two scans: seen in CI, every suite at once).
            func scansOfABatchStart() async throws -> (sequential: Int, index: Int) {
                try await world.admin.withTransaction { tx in
                    let scans = "SELECT seq_scan::int, idx_scan::int FROM pg_stat_xact_user_tables WHERE relid = 'user_service.events'::regclass"
                    let before = try await tx.query(scans)[0]
                    try await tx.query(
                        """
                        SELECT order_service.start_batch(
                            $1, (SELECT (pg_snapshot_xmax(snapshot)::text || ':' || pg_snapshot_xmax(snapshot)::text || ':')::pg_snapshot
                                 FROM order_service.consumer_positions WHERE consumer = $1),
                            pg_current_snapshot())
                        """,
                        [defaultConsumerName]
                    )
                    let after = try await tx.query(scans)[0]
                    try await tx.query("DELETE FROM order_service.batch_entities")
                    return (
                        try after.decode(0, as: Int.self) - before.decode(0, as: Int.self),
                        try after.decode(1, as: Int.self) - before.decode(1, as: Int.self)
                    )
                }
            }
            for round in 1...3 {
                try await world.admin.query("UPDATE user_service.users SET email = 'r\(round)-' || id || '@x.io'")
            }
            try await world.admin.query("ANALYZE user_service.events")
            let sequentially = "SELECT order_service.read_batch_sequentially($1)"
            #expect(try await world.admin.scalar(sequentially, [defaultConsumerName], as: Bool.self))
            let large = try await scansOfABatchStart()
            #expect(large.sequential == 1, "612 of about 830 events")

            let second = await world.startConsumer(chunkSize: 50)
            try await world.waitUntilCaughtUp()
            let replicaBehind: Int = try await world.admin.scalar(
                """
                SELECT count(*)::int FROM user_service.users u LEFT JOIN order_service.users r USING (id)
                WHERE r.email IS DISTINCT FROM u.email OR r.version IS DISTINCT FROM u.version
                """
            )
            #expect(replicaBehind == 0)
            #expect(try await world.inconsistentOrders() == 0)
            #expect(try await world.status()?.appliedEvents == Int64(try await world.eventCount()))
            await second.stop()

            try await world.admin.query("UPDATE user_service.users SET email = 'small-' || id || '@x.io' WHERE id IN (5, 6)")
            #expect(try await world.admin.scalar(sequentially, [defaultConsumerName], as: Bool.self) == false)
            let small = try await scansOfABatchStart()
            #expect(small.sequential == 0)
            #expect(small.index >= 1)
        }
    }

    /// pending_events(since, upto): the events of transactions `upto` sees and `since` does not,
    /// whether they were running at `since` or began after it; not those that committed after
    /// `upto` was taken, though the reading statement's own snapshot sees them.
    @Test func pendingEventsAreThoseTheUptoSnapshotSeesNotThoseCommittedAfterIt() async throws {
        try await withOrderWorld { world in
            let runningXID = Mailbox<String>()
            let runningAtSince = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("UPDATE user_service.users SET email = 'one@x.io' WHERE id = 1")
                await runningXID.append(try await tx.query("SELECT pg_current_xact_id()::text")[0].decode(0))
            }
            // A snapshot's xmax is one past the newest finished transaction: one finishing now puts
            // the running one below it, among the snapshot's in-progress transactions.
            try await world.admin.query("UPDATE user_service.users SET email = 'four@x.io' WHERE id = 4")
            let since: String = try await world.admin.scalar("SELECT pg_current_snapshot()::text")
            let runningInSince: Bool = try await world.admin.scalar(
                "SELECT $2::xid8 IN (SELECT pg_snapshot_xip($1::pg_snapshot))", [since, try #require(await runningXID.items.first)]
            )
            #expect(runningInSince)
            let beganAfterSince = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("UPDATE user_service.users SET email = 'two@x.io' WHERE id = 2")
            }
            try await world.admin.query("UPDATE user_service.users SET email = 'three@x.io' WHERE id = 3")
            let upto: String = try await world.admin.scalar("SELECT pg_current_snapshot()::text")
            try await runningAtSince.commit()
            try await beganAfterSince.commit()
            let now: String = try await world.admin.scalar("SELECT pg_current_snapshot()::text")

            let pending = { (from: String, to: String) async throws -> [Int] in
                try await world.admin.query(
                    "SELECT aggregate_id FROM order_service.pending_events($1::pg_snapshot, $2::pg_snapshot) WHERE aggregate_type = 'user' ORDER BY 1",
                    [from, to]
                ).map { try $0.decode(0, as: Int.self) }
            }
            #expect(try await pending(since, upto) == [3])
            #expect(try await pending(since, now) == [1, 2, 3])
            #expect(try await pending(upto, now) == [1, 2])
        }
    }

    @Test func aFailedApplyRollsBackWholeAndIsRetried() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 10)
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            let before = try #require(try await world.status())

            // Make the next apply fail part-way: the order update of one user raises.
            try await world.admin.query(
                """
                CREATE FUNCTION order_service.explode() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.doc -> 'user' ->> 'lastname' = 'Explode' THEN RAISE EXCEPTION 'injected failure'; END IF;
                    RETURN NEW;
                END $$
                """
            )
            try await world.admin.query(
                "CREATE TRIGGER explode BEFORE UPDATE ON order_service.purchase_orders FOR EACH ROW EXECUTE FUNCTION order_service.explode()"
            )
            try await world.admin.withTransaction { tx in
                try await tx.query("UPDATE user_service.users SET email = 'changed-' || id || '@example.com' WHERE id BETWEEN 5 AND 9")
                try await tx.query("UPDATE user_service.users SET lastname = 'Explode' WHERE id = 10")
            }
            try await eventually("the consumer to fail at least once") {
                try await world.admin.scalar(
                    "SELECT count(*) FROM pg_stat_database WHERE datname = current_database() AND xact_rollback > 0", as: Int.self
                ) > 0
            }
            // Nothing of the failed chunk is visible: not the replica, not the orders, not the position.
            let after = try #require(try await world.status())
            #expect(after.appliedEvents == before.appliedEvents)
            #expect(after.snapshot == before.snapshot)
            #expect(after.lag == 6)
            let replicaEmail: String = try await world.admin.scalar("SELECT email FROM order_service.users WHERE id = 5")
            #expect(replicaEmail == "u1@example.com")
            #expect(try await world.inconsistentOrders() == 12)

            try await world.admin.query("DROP TRIGGER explode ON order_service.purchase_orders")
            try await world.waitUntilCaughtUp()
            #expect(try await world.inconsistentOrders() == 0)
            #expect(try #require(try await world.status()).appliedEvents == Int64(try await world.eventCount()))
        }
    }

    @Test func stoppedMidCatchUpThenRestartedNeitherLosesNorRepeats() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 100)
            try await world.catchUpAndStop()
            for round in 1...10 {
                try await world.admin.query("UPDATE user_service.users SET firstname = 'R\(round)-' || id WHERE id > 4")
            }
            let interrupted = await world.startConsumer(chunkSize: 10)
            try await eventually("some progress") {
                let status = try #require(try await world.status())
                return status.appliedEvents > 120
            }
            await interrupted.stop()
            let midway = try #require(try await world.status())
            #expect(midway.lag > 0)
            // The check that does not count (ecst-bench waits on it) says the same as the count.
            let caughtUp = "SELECT order_service.caught_up($1)"
            #expect(try await world.admin.scalar(caughtUp, [defaultConsumerName], as: Bool.self) == false)
            #expect(try await world.admin.scalar(caughtUp, ["never-ran"], as: Bool.self) == false)

            await world.startConsumer(chunkSize: 10)
            try await world.waitUntilCaughtUp(timeout: .seconds(60))
            // Lag 0 may still be mid-batch (its last chunk was full; the next, empty one ends it),
            // where caught_up says false until that chunk has run.
            try await eventually("caught_up") { try await world.admin.scalar(caughtUp, [defaultConsumerName], as: Bool.self) }
            #expect(try await world.inconsistentOrders() == 0)
            #expect(try #require(try await world.status()).appliedEvents == Int64(try await world.eventCount()))
        }
    }

    @Test func theLagGaugeCountsWhatIsPendingAndRestsLongerAfterALongCount() async throws {
        // A count that takes longer than a ninth of the interval pushes the next one back.
        #expect(LagGauge.pause(afterCounting: .milliseconds(20), interval: .seconds(5)) == .seconds(5))
        #expect(LagGauge.pause(afterCounting: .seconds(2), interval: .seconds(5)) == .seconds(18))
        try await withOrderWorld { world in
            let running = await world.startConsumer(pollInterval: .seconds(1))
            let gauge = running.consumer.lag
            try await world.waitUntilCaughtUp()
            try await expectTheNextCount(of: gauge, is: 0)

            // While the position is held nobody applies: the new users' events stay pending.
            let holder = try await OpenTransaction.begin(on: world.database.configuration) { tx in
                try await tx.query("SELECT 1 FROM order_service.consumer_positions WHERE consumer = $1 FOR UPDATE", [defaultConsumerName])
            }
            try await world.admin.query(
                "INSERT INTO user_service.users (firstname, lastname, email) SELECT 'G', 'L', 'g' || i || '@x.io' FROM generate_series(1, 3) AS i"
            )
            try await expectTheNextCount(of: gauge, is: 3)
            try await holder.rollback()
            try await world.waitUntilCaughtUp()
            try await expectTheNextCount(of: gauge, is: 0)
        }
    }

    /// Waits for a count that began after this call, and checks what it found. On a loaded machine
    /// one slow count may push the next back by nine times its length (LagGauge.pause), hence the
    /// long deadline; a wrong count fails at once.
    private func expectTheNextCount(of gauge: LagGauge, is expected: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let asked = ContinuousClock.now
        var found: LagGauge.Count?
        try await eventually(timeout: .seconds(90), "a count begun after \(asked)") {
            found = gauge.lastCount
            return found.map { $0.began > asked } ?? false
        }
        #expect(found?.lag == expected, sourceLocation: sourceLocation)
    }

    @Test func twoConsumersNeverApplyAtOnceAndTheOtherTakesOver() async throws {
        try await withOrderWorld { world in
            try await addUsersWithOrders(world, count: 20)
            let a = await world.startConsumer(identity: "A")
            try await world.waitUntilCaughtUp()
            let b = await world.startConsumer(identity: "B")

            // While someone holds the position row (as an applying consumer does), nobody else applies.
            try await world.admin.query("UPDATE user_service.users SET lastname = 'Held' WHERE id = 5")
            let blocked = try await world.service.withTransaction { tx -> EventApplier.Outcome in
                try await tx.query("SELECT 1 FROM order_service.consumer_positions WHERE consumer = $1 FOR UPDATE", [defaultConsumerName])
                return try await b.applier.applyNextChunk()
            }
            #expect(blocked == .busy)

            // Both running under a stream of updates: every event applied exactly once.
            for round in 1...10 {
                try await world.admin.query("UPDATE user_service.users SET email = 'both\(round)-' || id || '@x.io' WHERE id > 4")
            }
            try await world.waitUntilCaughtUp()
            #expect(try await world.inconsistentOrders() == 0)
            #expect(try #require(try await world.status()).appliedEvents == Int64(try await world.eventCount()))

            // Stop A: B carries on alone.
            await a.stop()
            try await world.admin.query("UPDATE user_service.users SET email = 'after-a-' || id || '@x.io' WHERE id > 4")
            try await world.waitUntilCaughtUp()
            #expect(try await world.inconsistentOrders() == 0)
            #expect(try #require(try await world.status()).appliedBy == "B")
        }
    }

    @Test func aPoisonEventIsDeadLetteredAndLaterEventsStillApply() async throws {
        try await withOrderWorld { world in
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await world.admin.query(
                """
                INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload) VALUES
                    ('user', 1, 100, 'UserRenamed', '{"firstname": "X"}'),
                    ('user', 2, 100, 'UserUpdated', '{"firstname": 5}'),
                    ('product', 1, 100, 'ProductUpdated', '{"description": "D", "price": "cheap"}'),
                    ('product', 3, 100, 'ProductUpdated', '{"description": "D", "price": 2147483648}')
                """
            )
            try await world.admin.query("UPDATE user_service.users SET email = 'after-poison@example.com' WHERE id = 1")
            // The largest price the API and the column accept is applicable (schemathesis found
            // it dead-lettered once).
            try await world.admin.query("UPDATE user_service.products SET price = 2147483647 WHERE id = 2")
            try await world.waitUntilCaughtUp()
            let reasons = try await world.admin.query(
                "SELECT event_type, reason FROM order_service.dead_letters ORDER BY event_id"
            ).map { "\(try $0.decode(0, as: String.self)): \(try $0.decode(1, as: String.self))" }
            #expect(reasons.count == 4)
            #expect(reasons[0].contains("unknown event type UserRenamed"))
            #expect(reasons[1].contains("user payload needs"))
            #expect(reasons[2].contains("integer price"))
            #expect(reasons[3].contains("integer price from 0 to 2147483647"))
            #expect(try await world.inconsistentOrders() == 0)
            let price: Int = try await world.admin.scalar("SELECT price FROM order_service.products WHERE id = 2")
            #expect(price == 2147483647)
            let version: Int = try await world.admin.scalar("SELECT version FROM order_service.users WHERE id = 2")
            #expect(version == 1)
            #expect(try #require(try await world.status()).deadLetters == 4)
        }
    }

    /// The consumer's generic plans are made once per session, from the statistics of that moment.
    /// Made while the replica and the orders are small (here: analyzed with the seed only, and not
    /// analyzed again, as within autovacuum's first minute), they must still reach an entity and its
    /// orders through their indexes once the tables have grown: a sequential scan per entity
    /// there cost 12 ms a call at 10,000 users, and grows with the tables.
    @Test func plansMadeWhileTheReplicaWasSmallStillUseItsIndexesOnceItHasGrown() async throws {
        try await withOrderWorld { world in
            for table in ["users", "products", "purchase_orders"] {
                try await world.admin.query("ALTER TABLE order_service.\(table) SET (autovacuum_enabled = false)")
            }
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await world.admin.query("VACUUM ANALYZE order_service.users, order_service.products, order_service.purchase_orders")
            // Every statement of the consumer planned once, with those statistics.
            try await world.admin.query("UPDATE user_service.users SET email = 'planned@example.com' WHERE id = 1")
            try await world.waitUntilCaughtUp()

            try await addUsersWithOrders(world, count: 2_000)
            try await world.waitUntilCaughtUp()
            let scans = """
                SELECT coalesce(sum(seq_tup_read), 0)::bigint, coalesce(sum(idx_scan), 0)::bigint FROM pg_stat_user_tables
                WHERE schemaname = 'order_service' AND relname IN ('users', 'purchase_orders')
                """
            // Statistics reach pg_stat_user_tables when a backend flushes them (within seconds).
            func counters() async throws -> (rowsScanned: Int64, indexScans: Int64) {
                let row = try await world.admin.query(scans)[0]
                return (try row.decode(0), try row.decode(1))
            }
            try await eventually(timeout: .seconds(30), "the catch-up's statistics flushed") {
                let now = try await counters()
                return now.indexScans > 0 || now.rowsScanned > 2_000
            }
            let before = try await counters()
            for n in 1...20 {
                try await world.admin.query("UPDATE user_service.users SET email = 'grown-\(n)@example.com' WHERE id = 4 + $1 * 50", [n])
                try await world.waitUntilCaughtUp()
            }
            try await eventually(timeout: .seconds(30), "the updates' statistics flushed") {
                let now = try await counters()
                return now.indexScans >= before.indexScans + 20 || now.rowsScanned > before.rowsScanned + 2_000
            }
            let after = try await counters()
            // 20 updates of one user with 2 orders each: a few rows each through the indexes, where a
            // sequential scan reads all 2,004 users or 4,001 orders per update.
            #expect(after.rowsScanned - before.rowsScanned < 2_000, "the consumer scanned the replica or the orders sequentially")
            let updatedOrders: Int = try await world.admin.scalar(
                "SELECT count(*) FROM order_service.purchase_orders WHERE doc -> 'user' ->> 'email' LIKE 'grown-%'")
            #expect(updatedOrders == 40)
        }
    }

    /// The consumer's calls plan generically and must not JIT-compile (their generic estimates pass
    /// jit_above_cost: 45 ms of compiling per call, measured); the document builders must be inlined
    /// into the statements that embed them, not called once per order (docs/design.md#reading-the-log-in-commit-order).
    @Test func theConsumersSessionsRunWithoutJITAndTheDocumentBuildersAreInlined() async throws {
        try await withOrderWorld { world in
            let running = await world.startConsumer()
            let settings = try await running.client.query(
                "SELECT current_setting('jit') AS jit, current_setting('plan_cache_mode') AS plans, current_setting('synchronous_commit') AS sync, "
                    + "current_setting('enable_seqscan') AS seqscan"
            )[0]
            #expect(try settings.decode("jit", as: String.self) == "off")
            #expect(try settings.decode("plans", as: String.self) == "force_generic_plan")
            #expect(try settings.decode("sync", as: String.self) == "off")
            #expect(try settings.decode("seqscan", as: String.self) == "off")
            for call in ["order_service.user_document(u.id, u.firstname, u.lastname, u.email)", "order_service.product_document(u.id, u.email)"] {
                let plan = try await world.admin.query("EXPLAIN (VERBOSE) SELECT \(call) FROM order_service.users u")
                    .map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
                #expect(plan.contains("jsonb_build_object"), "\(call) is not inlined: \(plan)")
                #expect(!plan.contains("_document("), "\(call) is not inlined: \(plan)")
            }
        }
    }
}
