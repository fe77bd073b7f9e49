import Postgres
import PostgresTestSupport
import Testing

@Suite("end to end: schema.sql applied while the services run")
struct SchemaUnderLoadTests {
    /// schema.sql applied twice (as an upgrade, or every `docker compose up`, does) while updates
    /// stream through the user-service and the order-service applies them: every update answered,
    /// every one acknowledged recorded as an event, and the consumer caught up having applied each
    /// event once, every order consistent with the users.
    @Test(.enabled(if: runsProcesses)) func noUpdateFailsOrGoesUnrecordedAndTheOrdersStayConsistent() async throws {
        try await withStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await waitForLagZero(orders)
            let stream = UpdateStream(users)
            try await stream.acknowledges(20, "before schema.sql")

            for _ in 1...2 {
                try await stack.applySchema()
            }
            try await stream.acknowledges(20, "after schema.sql")
            await stream.stop()

            #expect(await stream.refusals == 0)
            #expect(try await stream.unrecorded(stack.admin) == [])
            #expect(try await stream.lostUpdates(stack.admin) == [])
            try await stack.expectCaughtUpApplyingEachEventOnce(orders)
            #expect(orders.process.exitCode == nil)
        }
    }

    /// The same with a database per service: each side of schema.sql applied twice to its server
    /// while updates stream in and the subscription copies them. On the orders' server the local
    /// transaction id's trigger must never be missing under the apply worker (a row copied without
    /// it keeps the users' server's id, which the consumer's snapshots can skip).
    @Test(.enabled(if: runsProcesses)) func withADatabasePerServiceEveryEventIsCopiedAndAppliedOnce() async throws {
        try await withSplitStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await stack.waitUntilCopied()
            let before: Int64 = try await stack.orders.scalar("SELECT max(id) FROM user_service.events")
            let stream = UpdateStream(users)
            try await stream.acknowledges(20, "before schema.sql")

            for _ in 1...2 {
                for (url, part) in [(stack.usersURL, "users"), (stack.ordersURL, "orders")] {
                    try await SQLFile.apply(schemaPath, connectionString: url, variables: ["part": part])
                }
            }
            try await stream.acknowledges(20, "after schema.sql")
            await stream.stop()

            #expect(await stream.refusals == 0)
            #expect(try await stream.unrecorded(stack.users) == [])
            try await stack.expectEveryEventCopiedAndAppliedOnce()
            let withoutLocalID: Int = try await stack.orders.scalar(
                "SELECT count(*)::int FROM user_service.events WHERE id > $1 AND origin_xid IS NULL", [before])
            #expect(withoutLocalID == 0)
            #expect(orders.process.exitCode == nil)
        }
    }
}
