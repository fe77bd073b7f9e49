import Foundation
import Postgres
import PostgresTestSupport
import ServiceTestSupport
import Testing

@Suite("schema.sql: roles and privileges")
struct PrivilegeTests {
    func withRoles(_ body: @Sendable (_ admin: PostgresClient, _ userService: PostgresClient, _ orderService: PostgresClient) async throws -> Void) async throws
    {
        let template = try await TestDatabases.shared.template(applyingSQLFile: schemaPath)
        try await TestDatabases.shared.withClient(template: template) { admin, database in
            try await PostgresClient.withClient(configuration: database.configuration(asUser: "user_service")) { userService in
                try await PostgresClient.withClient(configuration: database.configuration(asUser: "order_service")) { orderService in
                    try await body(admin, userService, orderService)
                }
            }
        }
    }

    func denied(_ client: PostgresClient, _ sql: String) async -> Bool {
        let error = await capturePostgresError { try await client.query(sql) }
        return error?.sqlState == PostgresError.SQLState.insufficientPrivilege
    }

    @Test func orderServiceReadsEventsAndNothingElseOfUserService() async throws {
        try await withRoles { _, _, orderService in
            let events: Int = try await orderService.scalar("SELECT count(*) FROM user_service.events")
            #expect(events == 7)
            #expect(await denied(orderService, "SELECT * FROM user_service.users"))
            #expect(await denied(orderService, "SELECT * FROM user_service.products"))
            #expect(
                await denied(
                    orderService, "INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload) VALUES ('user', 1, 99, 'X', '{}')"))
            #expect(await denied(orderService, "UPDATE user_service.users SET firstname = 'x'"))
            // Its own schema is its own.
            let orders: Int = try await orderService.scalar("SELECT count(*) FROM order_service.purchase_orders")
            #expect(orders == 1)
        }
    }

    @Test func userServiceHasNoAccessToOrderService() async throws {
        try await withRoles { _, userService, _ in
            #expect(await denied(userService, "SELECT * FROM order_service.purchase_orders"))
            #expect(await denied(userService, "SELECT * FROM order_service.users"))
            let users: Int = try await userService.scalar("SELECT count(*) FROM user_service.users")
            #expect(users == 4)
        }
    }

    /// Every function of order_service is the order_service role's to execute, and not PUBLIC's
    /// (which PostgreSQL lets execute a new function unless told otherwise).
    @Test func orderServiceFunctionsAreOrderServicesAlone() async throws {
        try await withRoles { admin, _, _ in
            let functions: Int = try await admin.scalar("SELECT count(*) FROM pg_proc WHERE pronamespace = 'order_service'::regnamespace")
            let wrong: [String] = try await admin.query(
                """
                SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'order_service'::regnamespace
                  AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0)
                       OR NOT has_function_privilege('order_service', p.oid, 'EXECUTE')
                       OR has_function_privilege('user_service', p.oid, 'EXECUTE'))
                ORDER BY 1
                """
            ).map { try $0.decode(0, as: String.self) }
            #expect(functions > 20)
            #expect(wrong == [])
        }
    }

    @Test func eventsAreAppendOnlyForEveryoneButTheSuperuser() async throws {
        try await withRoles { admin, userService, orderService in
            for client in [userService, orderService] {
                #expect(await denied(client, "UPDATE user_service.events SET type = 'X'"))
                #expect(await denied(client, "DELETE FROM user_service.events"))
                #expect(await denied(client, "TRUNCATE user_service.events"))
                #expect(
                    await denied(
                        client, "INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload) VALUES ('user', 1, 99, 'X', '{}')"))
            }
            // A non-superuser owner-like role is refused by the trigger too.
            try await admin.query("CREATE ROLE ecst_test_editor")
            try await admin.query("GRANT USAGE ON SCHEMA user_service TO ecst_test_editor")
            try await admin.query("GRANT UPDATE, DELETE, SELECT ON user_service.events TO ecst_test_editor")
            let refused = try await admin.withTransaction { tx -> Bool in
                try await tx.query("SET LOCAL ROLE ecst_test_editor")
                let error = await capturePostgresError { try await tx.query("DELETE FROM user_service.events") }
                return error?.message.contains("append-only") == true
            }
            try await admin.query("DROP OWNED BY ecst_test_editor")
            try await admin.query("DROP ROLE ecst_test_editor")
            #expect(refused)
            // The superuser may prune.
            try await admin.query("DELETE FROM user_service.events WHERE id = $1", [1])
            let left: Int = try await admin.scalar("SELECT count(*) FROM user_service.events")
            #expect(left == 6)
        }
    }

    /// The seed's rows, each once: 4 users, their 7 events and 1 purchase order.
    func expectTheSeedOnce(_ admin: PostgresClient) async throws {
        let counts = try await admin.query(
            "SELECT (SELECT count(*) FROM user_service.users), (SELECT count(*) FROM user_service.events), (SELECT count(*) FROM order_service.purchase_orders)"
        )[0]
        #expect(try counts.decode(0, as: Int.self) == 4)
        #expect(try counts.decode(1, as: Int.self) == 7)
        #expect(try counts.decode(2, as: Int.self) == 1)
    }

    @Test func applyingTheSchemaTwiceIsHarmless() async throws {
        try await withRoles { admin, userService, _ in
            let database: String = try await admin.scalar("SELECT current_database()")
            try await SQLFile.apply(schemaPath, connectionString: try await TestCluster.shared.adminConnectionString(), database: database)
            try await expectTheSeedOnce(admin)
            // Grants survive re-application.
            let users: Int = try await userService.scalar("SELECT count(*) FROM user_service.users")
            #expect(users == 4)
        }
    }

    /// The roles are the cluster's, and two databases may be set up at once (CI once failed so:
    /// two test templates). Here the race is made to happen: another session has created
    /// order_service and not committed yet, so schema.sql does not see it, and its CREATE ROLE waits
    /// for that session. Once it commits, the file goes on with the role as made; it does not fail.
    /// On a cluster of its own: the shared one has the roles already.
    @Test func aRoleMadeMeanwhileByAnotherDatabasesSetupIsTakenAsMade() async throws {
        let cluster = try await LocalCluster.start()
        let admin = PostgresConfiguration(connectionString: cluster.url)
        try await PostgresClient.withClient(configuration: admin) { client in
            try await client.query("CREATE DATABASE ecst_racing")
            let other = try await OpenTransaction.begin(on: admin) { tx in
                try await tx.query("CREATE ROLE order_service LOGIN")
            }
            let applying = Task {
                try await SQLFile.apply(schemaPath, connectionString: cluster.url, database: "ecst_racing")
            }
            do {
                try await eventually(timeout: .seconds(60), "schema.sql to wait for the other session's role") {
                    let waiting: Int = try await client.scalar(
                        "SELECT count(*)::int FROM pg_stat_activity WHERE datname = 'ecst_racing' AND wait_event = 'transactionid'")
                    return waiting == 1
                }
            } catch {
                try await other.rollback()
                _ = await applying.result
                throw error
            }
            try await other.commit()
            try await applying.value
            let made: Int = try await client.scalar(
                "SELECT count(*)::int FROM pg_roles WHERE rolname IN ('user_service', 'order_service') AND rolcanlogin")
            #expect(made == 2)
        }
        try await PostgresClient.withClient(configuration: .init(connectionString: SQLFile.connectionString(cluster.url, database: "ecst_racing"))) {
            client in
            let orders: Int = try await client.scalar("SELECT count(*)::int FROM order_service.purchase_orders")
            #expect(orders == 1)
        }
    }

    /// Two applications of schema.sql to one new database at once (two deploys starting together):
    /// without the file's lock, one of them failed every time, on a unique index behind an
    /// IF NOT EXISTS. With it the second waits and then finds everything in place.
    @Test func twoApplicationsAtOnceToOneDatabaseBothSucceedAndSeedOnce() async throws {
        let server = try await TestCluster.shared.adminConnectionString()
        try await TestDatabases.shared.withClient { admin, database in
            async let first: Void = SQLFile.apply(schemaPath, connectionString: server, database: database.name)
            async let second: Void = SQLFile.apply(schemaPath, connectionString: server, database: database.name)
            _ = try await (first, second)
            try await expectTheSeedOnce(admin)
        }
    }

    /// A session that ran the file with `\i` and goes on (an operator in psql) holds its lock no
    /// longer: else every later application would wait for that session to end.
    @Test func aSessionThatRanTheFileHoldsItsLockNoLonger() async throws {
        let server = try await TestCluster.shared.adminConnectionString()
        let script = FileManager.default.temporaryDirectory.path + "/ecst-schema-then-check-\(getpid()).sql"
        try """
        \\i '\(schemaPath)'
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) THEN
                RAISE EXCEPTION 'schema.sql left its session holding an advisory lock';
            END IF;
        END $$;
        """.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        try await TestDatabases.shared.withClient { _, database in
            try await SQLFile.apply(script, connectionString: server, database: database.name)
        }
    }

    /// Applied again, schema.sql replaces no trigger it finds as it defines it (put_trigger), so it
    /// takes no lock on their tables: with both services' schemas, and on each side of a database
    /// per service.
    @Test(arguments: ["all", "users", "orders"]) func applyingTheSchemaAgainReplacesNoTrigger(part: String) async throws {
        let template = try await TestDatabases.shared.template(applyingSQLFile: schemaPath, name: "ecst_template_\(part)", variables: ["part": part])
        try await TestDatabases.shared.withClient(template: template) { admin, database in
            let triggers = """
                SELECT string_agg(tgname || ' ' || oid || ' ' || tgenabled::text, ', ' ORDER BY tgname)
                FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'user_service.%'
                """
            let before: String = try await admin.scalar(triggers)
            try await SQLFile.apply(
                schemaPath, connectionString: try await TestCluster.shared.adminConnectionString(), database: database.name, variables: ["part": part])
            let after: String = try await admin.scalar(triggers)
            #expect(after == before)
            // The wake-up call fires under the subscription's apply worker on the orders' side.
            let notify = before.split(separator: ", ").first { $0.hasPrefix("events_notify ") }
            #expect(notify?.hasSuffix(part == "orders" ? " A" : " O") == true)
        }
    }

    /// A transaction reading the events (a catch-up's read, which can take seconds) does not hold up
    /// schema.sql applied again: nothing in it waits for a reader of the tables writers use.
    @Test func aLongReadOfTheEventsDoesNotHoldUpTheSchema() async throws {
        let template = try await TestDatabases.shared.template(applyingSQLFile: schemaPath)
        try await TestDatabases.shared.withClient(template: template) { _, database in
            let reader = try await OpenTransaction.begin(on: database.configuration) { tx in
                _ = try await tx.query("SELECT count(*) FROM user_service.events")
            }
            let server = try await TestCluster.shared.adminConnectionString()
            let applied = Mailbox<Bool>()
            Task {
                let succeeded = (try? await SQLFile.apply(schemaPath, connectionString: server, database: database.name)) != nil
                await applied.append(succeeded)
            }
            do {
                try await eventually(timeout: .seconds(30), "schema.sql applied beside the open read") { await applied.count > 0 }
            } catch {
                try await reader.rollback()
                throw error
            }
            try await reader.rollback()
            #expect(await applied.items == [true])
        }
    }

    /// Applying schema.sql to a database in use (an upgrade, `scripts/run`, every `docker compose
    /// up`) loses no event: a trigger dropped and created again in two transactions let the writes
    /// queued behind the drop run without it, recording no event. Writers update users all through
    /// the application; each update must have its event.
    @Test func applyingTheSchemaWhileUsersChangeLosesNoEvent() async throws {
        try await withRoles { admin, userService, _ in
            let database: String = try await admin.scalar("SELECT current_database()")
            let server = try await TestCluster.shared.adminConnectionString()
            let before: Int = try await admin.scalar("SELECT count(*) FROM user_service.events")
            let applied = Mailbox<Bool>()
            let updates = try await withThrowingTaskGroup(of: Int.self) { group in
                for id in 1...3 {
                    group.addTask {
                        var made = 0
                        while await applied.count == 0 {
                            made += 1
                            try await userService.query("UPDATE user_service.users SET lastname = $1 WHERE id = $2", ["Writer \(made)", Int64(id)])
                        }
                        return made
                    }
                }
                try await SQLFile.apply(schemaPath, connectionString: server, database: database)
                await applied.append(true)
                return try await group.reduce(0, +)
            }
            let events: Int = try await admin.scalar("SELECT count(*) FROM user_service.events")
            #expect(updates > 0)
            #expect(events - before == updates)
            let unrecorded: Int = try await admin.scalar(
                """
                SELECT count(*) FROM user_service.users u
                WHERE u.version IS DISTINCT FROM (SELECT max(e.version) FROM user_service.events e
                                                  WHERE e.aggregate_type = 'user' AND e.aggregate_id = u.id)
                """
            )
            #expect(unrecorded == 0)
        }
    }
}
