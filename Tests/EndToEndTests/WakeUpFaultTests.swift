import Foundation
import Postgres
import PostgresTestSupport
import Testing

/// No wake-up is lost to a fault: after each, the next committed update reaches the purchase
/// orders through the wake-up path alone (the safety poll is set to a minute here), within the
/// contract's bound. Sessions are found by their `application_name`.
@Suite("end to end: wake-ups survive lost sessions and a restarted server", .serialized)
struct WakeUpFaultTests {
    enum Fault: String, CaseIterable, CustomTestStringConvertible {
        case listeningSession = "order-service/listen"
        case applySessions = "order-service/apply"
        case everyOrderServiceSession = "order-service%"

        var testDescription: String { "terminate \(rawValue)" }
    }

    static let terminate = """
        SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE $1
        """

    /// Updates user 1 through the user-service and returns how long the order took to show it.
    static func updateAndWait(_ users: RunningService, _ orders: RunningService, email: String, within bound: Duration) async throws -> Duration {
        let reply = try await users.http.put(
            "/user-service/update", #"{"id": 1, "firstname": "Neha", "lastname": "Parate", "email": "\#(email)"}"#
        )
        #expect(reply.status == 200)
        let start = ContinuousClock.now
        try await waitForOrder(orders, toShow: email, within: bound)
        return ContinuousClock.now - start
    }

    /// Waits until user 1's order shows `email`; past `bound`, fails with the order-service's log.
    static func waitForOrder(_ orders: RunningService, toShow email: String, within bound: Duration) async throws {
        do {
            try await eventually(timeout: bound, "the update to reach the order within \(bound)") {
                // A read on an HTTP-pool session terminated a moment ago can fail once (the signal
                // races the pool's check of idle sessions): only the order's content counts here.
                guard let reply = try? await orders.http.get("/order-service/1"), reply.status == 200 else { return false }
                return try reply.json(OrderReply.self).user.email == email
            }
        } catch {
            // What the order-service did meanwhile: the run's output shows nothing else of it.
            throw EndToEndError("\(error); order-service's log ends:\n\(orders.process.log.suffix(4_000))")
        }
    }

    @Test(.enabled(if: runsProcesses), arguments: Fault.allCases)
    func theNextUpdateArrivesAfterTerminating(_ fault: Fault) async throws {
        try await withStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService(extra: ["CONSUMER_POLL_SECONDS": "60"])
            try await waitForLagZero(orders)
            _ = try await Self.updateAndWait(users, orders, email: "before@example.com", within: .seconds(10))

            let names = try await stack.admin.query(
                "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = current_database() AND usename = 'order_service' ORDER BY 1"
            ).map { try $0.decode(0, as: String.self) }
            #expect(names.contains("order-service/listen"))
            #expect(names.contains("order-service/apply"))

            let terminated: Int = try await stack.admin.scalar(Self.terminate, [fault.rawValue])
            #expect(terminated >= 1)
            let took = try await Self.updateAndWait(users, orders, email: "after-\(fault)@example.com", within: .seconds(1))
            print("wake-up after terminating \(fault.rawValue): \(took)")
            #expect(orders.process.exitCode == nil)
        }
    }

    @Test(.enabled(if: runsProcesses)) func theNextUpdateArrivesAfterAServerRestart() async throws {
        try await withStackOnItsOwnCluster { stack, cluster in
            let users = try await stack.userService()
            let orders = try await stack.orderService(extra: ["CONSUMER_POLL_SECONDS": "60"])
            try await waitForLagZero(orders)

            try await cluster.stopServer()
            try await cluster.startServer()
            // The update is committed by whoever reaches the server first (psql, here), so the
            // bound covers the consumer's own recovery.
            let start = ContinuousClock.now
            try await eventually(timeout: .seconds(30), "the server to accept writes") {
                (try? await stack.admin.query("UPDATE user_service.users SET email = 'after-restart@example.com' WHERE id = 1")) != nil
            }
            let committed = ContinuousClock.now
            try await Self.waitForOrder(orders, toShow: "after-restart@example.com", within: .seconds(2))
            print("wake-up after a restart: \(ContinuousClock.now - committed) after the commit, \(ContinuousClock.now - start) after the server was up")
            #expect(users.process.exitCode == nil)
            #expect(orders.process.exitCode == nil)
        }
    }
}
