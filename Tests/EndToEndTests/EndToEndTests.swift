import Foundation
import Postgres
import PostgresTestSupport
import Testing

@Suite("end to end: the executables as real processes")
struct EndToEndTests {
    @Test func theSeedWalkThroughOverHTTP() async throws {
        if let external = externalStack {
            try await walkThrough(users: HTTP(baseURL: external.user), orders: HTTP(baseURL: external.order))
            return
        }
        try await withStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await walkThrough(users: users.http, orders: orders.http)
            users.process.signal(SIGTERM)
            orders.process.signal(SIGTERM)
            #expect(try await users.process.waitForExit() == 0)
            #expect(try await orders.process.waitForExit() == 0)
        }
    }

    func walkThrough(users: HTTP, orders: HTTP) async throws {
        let list = try await users.get("/user-service")
        #expect(list.status == 200)
        #expect(list.body.contains("Neha"))
        let seeded = try await orders.get("/order-service/1")
        #expect(seeded.status == 200)
        #expect(try seeded.json(OrderReply.self).price == 300)

        let email = "neha.parate-\(UInt32.random(in: 0...UInt32.max))@vinsguru.com"
        let put = try await users.put(
            "/user-service/update",
            #"{"id": 1, "firstname": "Neha", "lastname": "Parate", "email": "\#(email)"}"#
        )
        #expect(put.status == 200)
        try await eventually(timeout: .seconds(5), "the order to show the new email") {
            let all = try await orders.get("/order-service/all").json([OrderReply].self)
            return all.filter { $0.user.id == 1 }.allSatisfy { $0.user.email == email && $0.user.firstname == "Neha" }
        }
        let created = try await orders.post("/order-service/create", #"{"userId": 1, "productId": 2}"#)
        #expect(created.status == 201)
        #expect(try created.json(OrderReply.self).user.email == email)
    }

    @Test(.enabled(if: runsProcesses)) func orderServiceDownDuringAThousandUpdatesThenCatchesUp() async throws {
        try await withStack { stack in
            let users = try await stack.userService()
            let first = try await stack.orderService()
            try await waitForLagZero(first)
            first.process.signal(SIGTERM)
            #expect(try await first.process.waitForExit() == 0)

            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        for i in 0..<250 {
                            let user = 1 + (worker + i) % 4
                            let reply = try await users.http.put(
                                "/user-service/update",
                                #"{"id": \#(user), "firstname": "F\#(worker)-\#(i)", "lastname": "L", "email": "w\#(worker)-\#(i)@example.com"}"#
                            )
                            #expect(reply.status == 200)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let events: Int = try await stack.admin.scalar("SELECT count(*) FROM user_service.events")
            #expect(events >= 1_000)

            let second = try await stack.orderService()
            try await waitForLagZero(second)
            #expect(try await stack.inconsistentOrders() == 0)
        }
    }

    @Test(.enabled(if: runsProcesses)) func killedDuringACatchUpOfTwentyThousandEventsThenRestarted() async throws {
        try await withStack { stack in
            try await stack.admin.query(
                """
                INSERT INTO user_service.users (firstname, lastname, email)
                SELECT 'F' || i, 'L' || i, 'u' || i || '@example.com' FROM generate_series(1, 2000) AS i
                """
            )
            try await stack.admin.query(
                """
                INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
                SELECT u.id, 1 + k % 3, '{"price": 1}' FROM user_service.users u, generate_series(1, 3) AS k WHERE u.id > 4
                """
            )
            for round in 1...10 {
                try await stack.admin.query("UPDATE user_service.users SET email = 'r\(round)-' || id || '@example.com' WHERE id > 4")
            }
            let total: Int = try await stack.admin.scalar("SELECT count(*) FROM user_service.events")
            #expect(total >= 20_000)

            // The catch-up is held in the middle rather than raced: an uncommitted replica row for a
            // user first seen in its third chunk makes that chunk's upsert wait, after two chunks
            // have committed. (Killed "once 2,000 were applied", a busy machine let it finish first.)
            let held = try await stack.orderServiceKilledWhileWaiting(
                on: "INSERT INTO order_service.users (id, firstname, lastname, email, version) VALUES (1200, 'H', 'H', 'h@example.com', 0)"
            )
            let appliedAtKill: Int = try await stack.admin.scalar("SELECT applied_events FROM order_service.consumer_positions")
            #expect(appliedAtKill >= 1_000 && appliedAtKill < total)
            // Its backend, still waiting, may finish that chunk once the row is released: position and
            // effects commit together either way.
            try await held.rollback()

            let restarted = try await stack.orderService(extra: ["CONSUMER_CHUNK_SIZE": "500"])
            try await waitForLagZero(restarted, timeout: .seconds(120))
            #expect(try await stack.inconsistentOrders() == 0)
            let applied: Int = try await stack.admin.scalar("SELECT applied_events FROM order_service.consumer_positions")
            #expect(applied == total)
        }
    }

    @Test(.enabled(if: runsProcesses)) func orderCreationWorksWhileUserServiceIsDown() async throws {
        try await withStack { stack in
            let orders = try await stack.orderService()
            try await waitForLagZero(orders)
            let reply = try await orders.http.post("/order-service/create", #"{"userId": 3, "productId": 1}"#)
            #expect(reply.status == 201)
            #expect(try reply.json(OrderReply.self).user.firstname == "Mayur")
        }
    }

    /// A database whose schema lacks what the consumer calls (an older schema.sql than the build's)
    /// is logged as that, at error level, while the consumer retries; once schema.sql is applied
    /// it goes on where it stood.
    @Test(.enabled(if: runsProcesses)) func aSchemaBehindTheBuildIsLoggedAsTheCauseAndRecoveredFrom() async throws {
        try await withStack { stack in
            let orders = try await stack.orderService()
            try await waitForLagZero(orders)
            try await stack.admin.query("DROP FUNCTION order_service.apply_next_chunk(text, integer, text, xid8[])")
            let users = try await stack.userService()
            let update = try await users.http.put(
                "/user-service/update", #"{"id": 1, "firstname": "Neha", "lastname": "Behind", "email": "neha.parate@gmail.com"}"#)
            #expect(update.status == 200)
            try await eventually("the order-service to log the schema as the cause") {
                orders.process.log.split(separator: "\n").contains {
                    $0.contains(" error ") && $0.contains("applying events failed") && $0.contains("apply this build's schema.sql")
                }
            }
            try await stack.applySchema()
            try await waitForLagZero(orders)
            let order = try await orders.http.get("/order-service/1")
            #expect(try order.json(OrderReply.self).user.lastname == "Behind")
        }
    }

    @Test(.enabled(if: runsProcesses)) func sigtermLetsInFlightRequestsFinishAndExitsZero() async throws {
        try await withStack { stack in
            let users = try await stack.userService()
            // Hold user 1's row so an update of it stays in flight until we let go.
            let holder = PostgresClient(configuration: .init(connectionString: stack.databaseURL))
            let locked = Mailbox<Bool>()
            let release = Mailbox<Bool>()
            let lockTask = Task {
                try await holder.withTransaction { tx in
                    try await tx.query("SELECT 1 FROM user_service.users WHERE id = 1 FOR UPDATE")
                    await locked.append(true)
                    try await eventually(timeout: .seconds(60)) { await release.count > 0 }
                }
            }
            try await eventually { await locked.count == 1 }
            let inFlight = Task {
                try await users.http.put("/user-service/update", #"{"id": 1, "firstname": "Neha", "lastname": "Parate", "email": "sigterm@example.com"}"#)
            }
            try await eventually("the update to wait on the lock") {
                try await stack.admin.scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()", as: Int.self
                ) == 1
            }
            users.process.signal(SIGTERM)
            #expect(users.process.exitCode == nil)
            await release.append(true)
            try await lockTask.value
            await holder.close()
            let reply = try await inFlight.value
            #expect(reply.status == 200)
            #expect(try await users.process.waitForExit() == 0)
            let email: String = try await stack.admin.scalar("SELECT email FROM user_service.users WHERE id = 1")
            #expect(email == "sigterm@example.com")
        }
    }

    /// Each request is counted and timed under its route, method and status, a refused one too.
    @Test(.enabled(if: runsProcesses)) func requestsAreCountedAndTimedInMetrics() async throws {
        try await withStack { stack in
            let users = try await stack.userService()
            for _ in 0..<3 {
                let reply = try await users.http.put(
                    "/user-service/update", #"{"id": 2, "firstname": "Ada", "lastname": "Byron", "email": "ada@example.com"}"#)
                #expect(reply.status == 200)
            }
            #expect(try await users.http.get("/user-service/0").status == 400)
            let metrics = try await users.http.get("/metrics").body
            let update = #"{http_route="/user-service/update",http_request_method="PUT",http_response_status_code="200"}"#
            #expect(metrics.contains("hb_requests\(update) 3"))
            #expect(metrics.contains("http_server_request_duration_count\(update) 3"))
            let refused = #"{http_route="/user-service/{id}",http_request_method="GET",http_response_status_code="400"}"#
            #expect(metrics.contains("hb_requests\(refused) 1"))
            #expect(metrics.contains(#"http_server_active_requests{http_request_method="PUT"} 0"#))
        }
    }

    #if os(Linux)
        /// The user-service serves HTTP on one thread unless `HTTP_EVENT_LOOPS`, or NIO's own
        /// variable without it, says otherwise (README.md#configuration).
        @Test(.enabled(if: runsProcesses)) func theHTTPThreadsAreOneForTheUserServiceUnlessConfigured() async throws {
            try await withStack { stack in
                let byDefault = try await stack.userService()
                let configured = try await stack.userService(extra: ["HTTP_EVENT_LOOPS": "3"])
                let byNIO = try await stack.userService(extra: ["NIO_SINGLETON_GROUP_LOOP_COUNT": "2"])
                let both = try await stack.userService(extra: ["HTTP_EVENT_LOOPS": "3", "NIO_SINGLETON_GROUP_LOOP_COUNT": "2"])
                #expect(try eventLoopThreads(of: byDefault.process.pid) == 1)
                #expect(try eventLoopThreads(of: configured.process.pid) == 3)
                #expect(try eventLoopThreads(of: byNIO.process.pid) == 2)
                #expect(try eventLoopThreads(of: both.process.pid) == 3)
                let reply = try await byDefault.http.put(
                    "/user-service/update", #"{"id": 2, "firstname": "Ada", "lastname": "Byron", "email": "ada@example.com"}"#)
                #expect(reply.status == 200)
            }
        }

        /// NIO names the threads of its shared event loops `NIO-SGLTN-1-#n`.
        private func eventLoopThreads(of pid: pid_t) throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").filter {
                ((try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("NIO-SGLTN-1-")
            }.count
        }
    #endif
}
