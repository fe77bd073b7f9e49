import Foundation
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

            let database: String = try await stack.admin.scalar("SELECT current_database()")
            let server = try await TestCluster.shared.adminConnectionString()
            for _ in 1...2 {
                // psql runs on a thread of its own: the stream needs the cooperative pool meanwhile.
                try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                    Thread { done.resume(with: Result { try SQLFile.apply(schemaPath, connectionString: server, database: database) }) }.start()
                }
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
}
