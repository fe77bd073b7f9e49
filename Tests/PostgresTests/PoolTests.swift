import Postgres
import PostgresTestSupport
import Testing

@Suite("Connection pool")
struct PoolTests {
    @Test func fiftyTasksThroughFourConnections() async throws {
        // Queued tasks wait their turn; with the whole suite running on 2 cores a turn took more
        // than the default 5 s once, which is the machine's load, not what this test is about.
        try await TestDatabases.shared.withClient(maximumConnections: 4, acquireTimeout: .seconds(60)) { client, _ in
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        try await client.withConnection { connection in
                            try await connection.scalar("SELECT $1::int8 * 2, pg_sleep(0.01)", [i], as: Int.self)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.sorted() == (0..<50).map { $0 * 2 })
            #expect(await client.openConnections <= 4)
            let backends = try await client.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'", as: Int.self)
            #expect(backends <= 4)
        }
    }

    @Test func aTerminatedIdleConnectionIsReplacedWithoutFailingAnyCall() async throws {
        try await TestDatabases.shared.withClient(maximumConnections: 1) { client, database in
            let before = try await client.withConnection { $0.backendPID }
            let admin = PostgresClient(configuration: database.configuration)
            try await admin.query("SELECT pg_terminate_backend($1::int)", [Int(before)])
            try await eventually("backend \(before) to exit") {
                try await admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [Int(before)], as: Int.self) == 0
            }
            await admin.close()
            let after = try await client.withConnection { connection in
                (connection.backendPID, try await connection.scalar("SELECT 1", as: Int.self))
            }
            #expect(after.0 != before)
            #expect(after.1 == 1)
        }
    }

    @Test func aConnectionKilledMidUseFailsOnlyThatCall() async throws {
        try await TestDatabases.shared.withClient(maximumConnections: 1) { client, database in
            let admin = PostgresClient(configuration: database.configuration)
            let pid = try await client.withConnection { $0.backendPID }
            // Terminate the pooled session from another one while its statement runs.
            let killer = Task {
                try await eventually {
                    try await admin.scalar(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                        [Int(pid)], as: Int.self) == 1
                }
                try await admin.query("SELECT pg_terminate_backend($1::int)", [Int(pid)])
            }
            let error = await capturePostgresError {
                try await client.query("SELECT pg_sleep(30)")
            }
            try await killer.value
            #expect(error?.isUnavailable == true)
            #expect(error?.code == .connectionLost)
            await admin.close()
            #expect(try await client.scalar("SELECT 3", as: Int.self) == 3)
        }
    }

    @Test func waitersTimeOutWhenThePoolStaysBusy() async throws {
        let url = try await TestCluster.shared.adminConnectionString()
        let client = PostgresClient(
            configuration: PostgresConfiguration(connectionString: url, maximumConnections: 1, acquireTimeout: .milliseconds(200))
        )
        let release = try await holdTheOnlyConnection(client)
        let error = await capturePostgresError { try await client.query("SELECT 1") }
        #expect(error?.code == .poolTimeout)
        try await release()
        #expect(try await client.scalar("SELECT 4", as: Int.self) == 4)
        await client.close()
    }

    @Test func aServedWaiterLeavesTheOthersTheirOwnDeadlines() async throws {
        let url = try await TestCluster.shared.adminConnectionString()
        let client = PostgresClient(
            configuration: PostgresConfiguration(connectionString: url, maximumConnections: 1, acquireTimeout: .seconds(5))
        )
        // Many waits served well within their timeout, one after another, then one that is not:
        // it must still time out, and nothing before it may have. (The timeout leaves room for a
        // loaded machine: at 0.5 s a wait timed out while a build ran beside the suite, and at 2 s
        // once in CI, where this loop takes 20-27 s beside the other suites.)
        for i in 0..<200 {
            async let a = client.scalar("SELECT $1::int", [i], as: Int.self)
            async let b = client.scalar("SELECT $1::int", [i + 1], as: Int.self)
            let (x, y) = try await (a, b)
            #expect(x == i && y == i + 1)
        }
        let release = try await holdTheOnlyConnection(client)
        let error = await capturePostgresError { try await client.query("SELECT 1") }
        #expect(error?.code == .poolTimeout)
        try await release()
        await client.close()
    }

    /// Leases the client's one connection until the returned function is called (which waits for
    /// the lease to end).
    func holdTheOnlyConnection(_ client: PostgresClient) async throws -> @Sendable () async throws -> Void {
        let holding = Mailbox<Bool>()
        let release = Mailbox<Bool>()
        let holder = Task {
            try await client.withConnection { _ in
                await holding.append(true)
                try await eventually(timeout: .seconds(30)) { await release.count > 0 }
            }
        }
        try await eventually { await holding.count == 1 }
        return {
            await release.append(true)
            try await holder.value
        }
    }
}
