import Foundation
import Postgres
import PostgresTestSupport
import Testing

/// A database per service (docs/replication.md): user-service and order-service on two servers,
/// the events carried by PostgreSQL's logical replication.
@Suite("end to end: a database per service over logical replication")
struct SplitDeploymentTests {
    struct Status: Decodable {
        struct Slot: Decodable {
            var connected: Bool
            var retained_bytes: Int64?
            var warning: String?
        }
        struct Subscription: Decodable { var worker_running: Bool }
        var server: String
        var replication_slots: [Slot]
        var subscription: Subscription?
    }

    func status(_ url: String, _ more: [String] = []) async throws -> Status {
        let output = try await SplitStack.ecst(["status", "--json", "--database-url", url] + more)
        return try JSONDecoder().decode(Status.self, from: Data(output.utf8))
    }

    func lastname(_ stack: SplitStack, order: Int64 = 1) async throws -> String {
        try await stack.orders.scalar("SELECT doc->'user'->>'lastname' FROM order_service.purchase_orders WHERE id = $1", [order])
    }

    @Test(.enabled(if: runsProcesses)) func changesReachTheOrdersServerWokenByNotifyAndNoOpenTransactionStallsThem() async throws {
        try await withSplitStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await stack.waitUntilCopied()

            // The copy's rows carry the orders' server's transaction ids, the users' one beside.
            let foreign: Int = try await stack.orders.scalar(
                "SELECT count(*)::int FROM user_service.events WHERE origin_xid IS NULL OR xid = origin_xid")
            #expect(foreign == 0)

            // An update reaches the order, woken by the copied row's NOTIFY (the poll is an hour),
            // and its token is answered on the orders' server at the first try.
            let update = try await users.http.put(
                "/user-service/update", #"{"id": 1, "firstname": "Neha", "lastname": "Across", "email": "neha.parate@gmail.com"}"#)
            #expect(update.status == 200)
            let token = try #require(update.headers["ecst-token"])
            let read = try await orders.http.request(.GET, "/order-service/1", headers: ["ECST-After": token, "ECST-Wait": "10"])
            #expect(read.status == 200)
            #expect(try read.json(OrderReply.self).user.lastname == "Across")

            // A transaction left open on the users' server holds back nothing committed after it.
            let openOnUsers = try await OpenTransaction.begin(on: .init(connectionString: stack.usersURL)) { tx in
                try await tx.query("UPDATE user_service.users SET lastname = 'Late' WHERE id = 1")
            }
            // ... nor one with a transaction id on the orders' server.
            let openOnOrders = try await OpenTransaction.begin(on: .init(connectionString: stack.ordersURL)) { tx in
                _ = try await tx.query("SELECT pg_current_xact_id()")
            }
            let created = try await orders.http.post("/order-service/create", #"{"userId": 2, "productId": 3, "price": 320}"#)
            #expect(created.status == 201 || created.status == 200)
            let second = try await users.http.put(
                "/user-service/update", #"{"id": 2, "firstname": "Aravind", "lastname": "Meanwhile", "email": "aravind.dekate@gmail.com"}"#)
            #expect(second.status == 200)
            try await eventually(timeout: .seconds(30), "the later update to arrive past both open transactions") {
                let names: [String] = try await stack.orders.query(
                    "SELECT doc->'user'->>'lastname' FROM order_service.purchase_orders WHERE user_id = 2"
                ).map { try $0.decode(0) }
                return !names.isEmpty && names.allSatisfy { $0 == "Meanwhile" }
            }
            #expect(try await lastname(stack) == "Across")
            try await openOnUsers.commit()
            try await eventually(timeout: .seconds(30), "the open transaction's update, once committed") {
                try await lastname(stack) == "Late"
            }
            try await openOnOrders.commit()
            try await stack.waitUntilCopied()
            #expect(try await stack.inconsistentOrders() == 0)

            // Each side shows its half of the replication.
            let usersStatus = try await status(stack.usersURL)
            #expect(usersStatus.server == "users")
            #expect(usersStatus.replication_slots.map(\.connected) == [true])
            let ordersStatus = try await status(stack.ordersURL)
            #expect(ordersStatus.server == "orders")
            #expect(ordersStatus.subscription?.worker_running == true)
            let userMetrics = try await users.http.get("/metrics").body
            #expect(userMetrics.contains(#"ecst_replication_slot_connected{slot="ecst_events"} 1"#))
            #expect(userMetrics.contains("ecst_replication_slot_retained_wal_bytes"))
            #expect(try await orders.http.get("/metrics").body.contains("ecst_replication_subscription_worker_running 1"))

            // Pruning the users' server deletes nothing of the orders' copy; a rebuild works from it.
            let copied: Int = try await stack.orders.scalar("SELECT count(*)::int FROM user_service.events")
            try await SplitStack.ecst(["prune", "--keep", "0s", "--database-url", stack.usersURL])
            let left: Int = try await stack.users.scalar("SELECT count(*)::int FROM user_service.events")
            #expect(left < copied)
            #expect(try await stack.orders.scalar("SELECT count(*)::int FROM user_service.events") == copied)
            try await stack.orders.query("UPDATE order_service.purchase_orders SET doc = jsonb_set(doc, '{user,lastname}', '\"Wrong\"')")
            #expect(try await stack.inconsistentOrders() > 0)
            try await SplitStack.ecst(["rebuild", "--database-url", stack.ordersURL])
            #expect(try await stack.inconsistentOrders() == 0)
            // The copy has its own retention: pruned there, compacted, and still enough to rebuild.
            try await SplitStack.ecst(["prune", "--keep", "0s", "--database-url", stack.ordersURL])
            #expect(try await stack.orders.scalar("SELECT count(*)::int FROM user_service.events") < copied)
            try await SplitStack.ecst(["rebuild", "--database-url", stack.ordersURL])
            #expect(try await stack.inconsistentOrders() == 0)
        }
    }

    @Test(.enabled(if: runsProcesses)) func theReplicationRoleReadsTheEventsAndNothingElse() async throws {
        try await withSplitStack { stack in
            let asReplication = PostgresConfiguration(
                connectionString: "host=127.0.0.1 port=\(stack.usersCluster.port) dbname=ecst user=ecst_replication password=s3cret")
            try await PostgresClient.withClient(configuration: asReplication) { replication in
                let events: Int = try await replication.scalar("SELECT count(*)::int FROM user_service.events")
                #expect(events == (try await stack.users.scalar("SELECT count(*)::int FROM user_service.events") as Int))
                func denied(_ sql: String) async -> Bool {
                    let error = await capturePostgresError { try await replication.query(sql) }
                    return error?.sqlState == PostgresError.SQLState.insufficientPrivilege
                }
                #expect(await denied("SELECT * FROM user_service.users"))
                #expect(await denied("SELECT * FROM user_service.products"))
                #expect(await denied("UPDATE user_service.users SET lastname = 'x'"))
                #expect(
                    await denied("INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload) VALUES ('user', 1, 99, 'X', '{}')"))
                #expect(await denied("DELETE FROM user_service.events"))
                #expect(await denied("SELECT user_service.transaction_token()"))
                #expect(await denied("SELECT * FROM user_service.events_publication_status()"))
                #expect(await denied("CREATE TABLE public.kept (id int)"))
            }
        }
    }

    @Test(.enabled(if: runsProcesses)) func nothingIsLostOrAppliedTwiceThroughEachServersFaults() async throws {
        try await withSplitStack { stack in
            let users = try await stack.userService()
            var orders: RunningService? = try await stack.orderService()
            try await stack.waitUntilCopied()

            // A steady stream of acknowledged updates through every fault below.
            let acknowledged = Mailbox<Int>()
            let stop = Mailbox<Bool>()
            let writer = Task {
                var i = 0
                while await stop.count == 0 {
                    i += 1
                    let reply = try? await users.http.request(
                        .PUT, "/user-service/update",
                        body: #"{"id": \#(1 + i % 4), "firstname": "F", "lastname": "L\#(i)", "email": "split-\#(i)@example.com"}"#,
                        timeout: .seconds(10))
                    if reply?.status == 200 { await acknowledged.append(i) }
                }
            }
            func flowing(_ what: String) async throws {
                let before = await acknowledged.count
                try await eventually(timeout: .seconds(60), "20 more acknowledged updates \(what)") { await acknowledged.count >= before + 20 }
            }
            try await flowing("at the start")

            // The order-service goes down for all of it.
            orders?.process.signal(SIGKILL)
            _ = try await orders?.process.waitForExit()
            orders = nil

            // The orders' server down while users change: the slot keeps their WAL.
            try await stack.ordersCluster.stopServer()
            try await flowing("with the orders' server down")
            let away = try await status(stack.usersURL)
            #expect(away.replication_slots.map(\.connected) == [false])
            #expect((away.replication_slots.first?.retained_bytes ?? 0) > 0)
            #expect(away.replication_slots.first?.warning == nil)  // far below 1 GiB
            let warned = try await status(stack.usersURL, ["--warn-retained-mib", "0"])
            #expect(warned.replication_slots.first?.warning?.contains("no subscriber is connected") == true)
            let text = try await SplitStack.ecst(["status", "--warn-retained-mib", "0", "--database-url", stack.usersURL])
            #expect(text.contains("NO SUBSCRIBER CONNECTED") && text.contains("WARNING"))
            #expect(try await users.http.get("/metrics").body.contains(#"ecst_replication_slot_connected{slot="ecst_events"} 0"#))
            try await stack.ordersCluster.startServer()
            try await flowing("with the orders' server back")

            // The subscription's apply worker terminated.
            try await eventually(timeout: .seconds(60), "the apply worker to run again") {
                let pid: Int32? = try? await stack.orders.scalar(
                    "SELECT pid FROM pg_stat_subscription WHERE subname = 'ecst_events' AND relid IS NULL AND pid IS NOT NULL")
                guard let pid else { return false }
                return try await stack.orders.scalar("SELECT pg_terminate_backend($1)", [pid])
            }
            try await flowing("after the apply worker was terminated")

            // The users' server restarted under load.
            try await stack.usersCluster.stopServer()
            try await stack.usersCluster.startServer()
            try await flowing("after the users' server restarted")

            await stop.append(true)
            _ = await writer.result
            orders = try await stack.orderService()
            // Everything arrived, once.
            try await stack.expectEveryEventCopiedAndAppliedOnce()
            #expect(users.process.exitCode == nil)
            #expect(orders?.process.exitCode == nil)
        }
    }
}
