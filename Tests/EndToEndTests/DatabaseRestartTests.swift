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
            let database = stack.admin
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await waitForLagZero(orders.http)

            // A steady stream of updates, remembering the last one acknowledged per user.
            let acknowledged = Mailbox<(Int, String)>()
            let statuses = Mailbox<Int>()
            let stop = Mailbox<Bool>()
            let writer = Task {
                var i = 0
                while await stop.count == 0 {
                    i += 1
                    let user = 1 + i % 4
                    let email = "stream-\(i)@example.com"
                    let reply = try? await users.http.request(
                        .PUT, "/user-service/update",
                        body: #"{"id": \#(user), "firstname": "F", "lastname": "L\#(i)", "email": "\#(email)"}"#,
                        timeout: .seconds(10)
                    )
                    await statuses.append(reply?.status ?? 0)
                    if reply?.status == 200 { await acknowledged.append((user, email)) }
                }
            }
            // A deadline for a CI machine running every suite at once, not a speed requirement.
            try await eventually(timeout: .seconds(30), "20 acknowledged updates") { await acknowledged.count >= 20 }

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
            for service in [users, orders] {
                try await eventually(timeout: .seconds(30), "recovery") { await service.http.healthy() }
            }
            let before = await acknowledged.count
            try await eventually(timeout: .seconds(30), "updates to flow again") { await acknowledged.count >= before + 20 }
            await stop.append(true)
            _ = await writer.result

            #expect(users.process.exitCode == nil)
            #expect(orders.process.exitCode == nil)
            // No acknowledged update lost: each user holds the last email acknowledged for it.
            var last: [Int: String] = [:]
            for (user, email) in await acknowledged.items { last[user] = email }
            for (user, email) in last {
                let stored: String = try await database.scalar("SELECT email FROM user_service.users WHERE id = $1", [user])
                #expect(stored == email)
            }
            try await waitForLagZero(orders.http)
            #expect(try await stack.inconsistentOrders() == 0)
        }
    }
}
