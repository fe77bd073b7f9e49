import Foundation
import Operations
import OrderService
import Postgres
import PostgresTestSupport
import Testing

@Suite("ecst operations: status, dead letters, rebuild, prune")
struct OperationsTests {
    @Test func statusShowsEachConsumerAndTheLog() async throws {
        try await withOperationsWorld { world in
            try await world.catchUp()
            try await world.admin.query("UPDATE user_service.users SET email = 'status@example.com' WHERE id = 2")
            let status = try await SystemStatus.read(from: world.service)
            #expect(status.consumers.map(\.consumer) == [defaultConsumerName])
            #expect(status.consumers.first?.lag == 1)
            let events: Int64 = try await world.admin.scalar("SELECT count(*) FROM user_service.events")
            #expect(status.eventLog.events == events)
            #expect(status.eventLog.totalBytes > 0)
            // Every time in one form, ISO 8601 in UTC, as the consumers' last applied time is.
            let newest: String = try await world.admin.scalar(
                #"SELECT to_char(max(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM user_service.events"#)
            #expect(status.eventLog.newest == newest)
            #expect(status.eventLog.oldest?.hasSuffix("Z") == true)
            #expect(status.consumers.first?.lastAppliedAt?.hasSuffix("Z") == true)
        }
    }

    @Test func deadLettersAreListedRetriedWhenTheRulesAllowAndDiscarded() async throws {
        try await withOperationsWorld { world in
            try await world.addOrders()
            try await world.catchUp()
            try await world.admin.query(
                """
                INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload) VALUES
                    ('user', 2, 50, 'UserRenamed', '{"firstname": "Renamed", "lastname": "R", "email": "r@example.com"}'),
                    ('product', 1, 50, 'ProductUpdated', '{"description": "D", "price": "cheap"}')
                """
            )
            try await world.catchUp()
            let letters = DeadLetters(database: world.service, consumer: defaultConsumerName)
            let listed = try await letters.list()
            #expect(listed.map(\.eventType) == ["UserRenamed", "ProductUpdated"])

            // Same rules: both stay.
            let first = try await letters.retry(.all)
            #expect(first.map(\.result) == [.stillInvalid, .stillInvalid])
            #expect(try await letters.list().count == 2)

            // A newer order-service that understands UserRenamed (the rules are one SQL function).
            try await world.admin.query(
                """
                CREATE OR REPLACE FUNCTION order_service.event_problem(type text, aggregate_type text, payload jsonb)
                RETURNS text LANGUAGE sql IMMUTABLE AS $$
                    SELECT CASE WHEN type = 'UserRenamed' THEN NULL
                                WHEN type = 'ProductUpdated' AND payload ->> 'price' = 'cheap' THEN 'price is not an integer' END
                $$
                """
            )
            let second = try await letters.retry(.ids([listed[0].id, listed[1].id]))
            #expect(second.map(\.result) == [.applied, .stillInvalid])
            let embedded: String = try await world.admin.scalar(
                "SELECT string_agg(DISTINCT doc -> 'user' ->> 'firstname', ',') FROM order_service.purchase_orders WHERE user_id = 2"
            )
            #expect(embedded == "Renamed")
            #expect(try await letters.list().map(\.eventType) == ["ProductUpdated"])

            #expect(try await letters.discard(.ids([listed[1].id])) == 1)
            #expect(try await letters.list().isEmpty)
        }
    }

    @Test func rebuildRepairsTheReplicaAndEveryOrderWhileTheConsumerKeepsItsPlace() async throws {
        try await withOperationsWorld { world in
            try await world.addOrders()
            try await world.catchUp()
            // Damage only the order-service's side.
            try await world.admin.query("UPDATE order_service.users SET email = 'damaged@example.com' WHERE id IN (1, 3)")
            try await world.admin.query("UPDATE order_service.purchase_orders SET doc = doc || '{\"user\": {}}' WHERE user_id = 4")
            try await world.admin.query("DELETE FROM order_service.products WHERE id = 2")
            #expect(try await world.inconsistentOrders() > 0)
            // The view of orders against the replica: those of users 1 and 3 differ from their
            // damaged replica rows; user 4's are product 2's, which has no replica row left.
            let stale: String = try await world.service.query(
                "SELECT string_agg(DISTINCT user_id::text, ',') || ':' || bool_and(user_stale) FROM order_service.stale_orders"
            )[0].decode(0)
            #expect(stale == "1,3:true")
            // A writer still open while the rebuild takes its snapshot: its event commits after,
            // and is the consumer's to apply, neither lost nor skipped.
            let report = try await world.admin.withTransaction { writer in
                try await writer.query("UPDATE user_service.users SET lastname = 'Concurrent' WHERE id = 2")
                return try await ReplicaRebuild(database: world.service, consumer: defaultConsumerName).run()
            }
            #expect(report.orders == 9)
            #expect(report.replicaRowsChanged == 3)
            #expect(report.ordersWithoutSource == 0)
            // Only user 2's two orders differ: they wait for the consumer.
            #expect(try await world.inconsistentOrders() == 2)
            let replicaEmails: Int = try await world.admin.scalar("SELECT count(*) FROM order_service.users WHERE email = 'damaged@example.com'")
            #expect(replicaEmails == 0)
            let status = try #require(try await ConsumerStatusQuery(database: world.service).status(consumer: defaultConsumerName))
            #expect(status.lag == 1)
            #expect(status.appliedBy == "ecst rebuild")
            try await world.catchUp()
            let concurrent: String = try await world.admin.scalar(
                "SELECT string_agg(DISTINCT doc -> 'user' ->> 'lastname', ',') FROM order_service.purchase_orders WHERE user_id = 2"
            )
            #expect(concurrent == "Concurrent")
            #expect(try await world.inconsistentOrders() == 0)

            try await world.admin.query("UPDATE user_service.users SET lastname = 'After' WHERE id = 1")
            try await world.catchUp()
            #expect(try await world.inconsistentOrders() == 0)
            // A second rebuild finds nothing to change.
            let again = try await ReplicaRebuild(database: world.service, consumer: defaultConsumerName).run()
            #expect(again.replicaRowsChanged == 0)
            #expect(again.ordersChanged == 0)
            let staleAfter: Int = try await world.service.query("SELECT count(*) FROM order_service.stale_orders")[0].decode(0)
            #expect(staleAfter == 0)
        }
    }

    /// A rebuild in the middle of a catch-up's batch applies everything the batch had left, so it
    /// ends the batch: its rows go with it, and the consumer goes on from the rebuild's snapshot.
    @Test func rebuildInTheMiddleOfABatchEndsIt() async throws {
        try await withOperationsWorld { world in
            try await world.addOrders()
            try await world.catchUp()
            try await world.admin.query("UPDATE user_service.users SET lastname = 'Batch-' || id")
            let oneAtATime = EventApplier(database: world.service, consumer: defaultConsumerName, chunkSize: 1, identity: "test")
            guard case .applied(_, let more, _) = try await oneAtATime.applyNextChunk() else {
                Issue.record("the position was busy")
                return
            }
            #expect(more)
            let left = "SELECT count(*)::int FROM order_service.batch_entities"
            #expect(try await world.admin.scalar(left, as: Int.self) == 4)

            _ = try await ReplicaRebuild(database: world.service, consumer: defaultConsumerName).run()
            #expect(try await world.admin.scalar(left, as: Int.self) == 0)
            let status = try #require(try await ConsumerStatusQuery(database: world.service).status(consumer: defaultConsumerName))
            #expect(status.lag == 0)
            #expect(try await world.inconsistentOrders() == 0)
            try await world.admin.query("UPDATE user_service.users SET lastname = 'After' WHERE id = 3")
            try await world.catchUp()
            #expect(try await world.inconsistentOrders() == 0)
        }
    }

    @Test func rebuildRefusesAndChangesNothingWhenTheLogLostStateTheReplicaHolds() async throws {
        try await withOperationsWorld { world in
            try await world.addOrders()
            try await world.catchUp()
            try await world.admin.query("DELETE FROM user_service.events WHERE aggregate_type = 'user' AND aggregate_id = 3")
            try await world.admin.query("UPDATE order_service.users SET email = 'damaged@example.com' WHERE id = 1")
            let error = await capture {
                try await ReplicaRebuild(database: world.service, consumer: defaultConsumerName).run()
            }
            #expect(error?.kind == .logIncomplete)
            #expect(error?.message.contains("user 3 is at version 1 in the replica but it has no event there") == true)
            let untouched: String = try await world.admin.scalar("SELECT email FROM order_service.users WHERE id = 1")
            #expect(untouched == "damaged@example.com")
        }
    }

    @Test func pruneDeletesAppliedSupersededEventsOnlyAndRebuildStillWorks() async throws {
        try await withOperationsWorld { world in
            try await world.addOrders()
            for i in 1...3 {
                try await world.admin.query("UPDATE user_service.users SET lastname = $1 WHERE id = 1", ["L\(i)"])
            }
            try await world.catchUp()
            // Not yet applied: stays, and so does the event it supersedes' successor chain.
            try await world.admin.query("UPDATE user_service.users SET lastname = 'Pending' WHERE id = 2")
            let before: Int = try await world.admin.scalar("SELECT count(*) FROM user_service.events")

            let refused = await capture { try await EventLogPruner(database: world.service, keepSeconds: 0).run() }
            #expect(refused?.kind == .notSuperuser)

            let young = try await EventLogPruner(database: world.admin, keepSeconds: 3_600).run()
            #expect(young.deleted == 0)

            let dry = try await EventLogPruner(database: world.admin, keepSeconds: 0).run(dryRun: true)
            let report = try await EventLogPruner(database: world.admin, keepSeconds: 0).run()
            // User 1: versions 1-3 superseded by 4. User 2: version 1 applied, superseded by the pending 2.
            #expect(report.deleted == 4)
            #expect(dry.deleted == report.deleted)
            #expect(report.remaining == before - 4)
            let pending: Int = try await world.admin.scalar("SELECT count(*) FROM user_service.events WHERE payload ->> 'lastname' = 'Pending'")
            #expect(pending == 1)

            try await world.catchUp()
            try await world.admin.query("UPDATE order_service.users SET email = 'damaged@example.com'")
            let rebuilt = try await ReplicaRebuild(database: world.service, consumer: defaultConsumerName).run()
            #expect(rebuilt.entities == 7)
            #expect(try await world.inconsistentOrders() == 0)
        }
    }

    @Test(arguments: [("90s", 90), ("30m", 1_800), ("12h", 43_200), ("7d", 604_800), ("2w", 1_209_600), ("0s", 0)])
    func keepDurations(_ text: String, _ seconds: Int) throws {
        #expect(try KeepDuration.seconds(from: text) == seconds)
    }

    @Test(arguments: ["", "7", "d", "-1d", "1.5h", "7 days", "99999999999999w"])
    func badKeepDurations(_ text: String) {
        #expect(throws: OperationsError.self) { try KeepDuration.seconds(from: text) }
    }
}

/// The OperationsError `body` throws, or nil.
func capture(_ body: () async throws -> some Any) async -> OperationsError? {
    do {
        _ = try await body()
        return nil
    } catch let error as OperationsError {
        return error
    } catch {
        return nil
    }
}
