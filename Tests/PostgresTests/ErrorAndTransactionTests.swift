import Postgres
import PostgresTestSupport
import Testing

@Suite("Errors and transactions")
struct ErrorAndTransactionTests {
    @Test func duplicateKeyCarriesSQLStateAndThePoolStaysUsable() async throws {
        try await TestDatabases.shared.withClient(maximumConnections: 2) { client, _ in
            try await client.query("CREATE TABLE t (id int PRIMARY KEY, secret text UNIQUE)")
            try await client.query("INSERT INTO t VALUES ($1, $2)", [1, "hunter2"])
            let error = await capturePostgresError {
                try await client.query("INSERT INTO t VALUES ($1, $2)", [2, "hunter2"])
            }
            #expect(error?.code == .server)
            #expect(error?.sqlState == PostgresError.SQLState.uniqueViolation)
            // The detail quotes the row's value: kept for whoever may show it, never logged.
            #expect(error?.detail?.contains("hunter2") == true)
            #expect(error?.description.contains("hunter2") == false)
            #expect(error?.isUnavailable == false)
            #expect(try await client.scalar("SELECT count(*) FROM t", as: Int.self) == 1)
        }
    }

    @Test func missingTable() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let error = await capturePostgresError {
                try await client.query("SELECT * FROM nope")
            }
            #expect(error?.sqlState == PostgresError.SQLState.undefinedTable)
            #expect(error?.message.contains("nope") == true)
            #expect(error?.isMissingDefinition == true)
            let stillWorks = try await client.scalar("SELECT 2", as: Int.self)
            #expect(stillWorks == 2)
        }
    }

    /// What a schema older or newer than the statement's says (a function missing, or two that
    /// match), and what it does not (a statement that fails on its values).
    @Test func missingOrAmbiguousFunctionsAreMissingDefinitions() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            try await client.query("CREATE FUNCTION twice(a int, b int DEFAULT 0) RETURNS int LANGUAGE sql AS 'SELECT a + b'")
            try await client.query("CREATE FUNCTION twice(a int, b text DEFAULT '') RETURNS int LANGUAGE sql AS 'SELECT a'")
            let missing = await capturePostgresError { try await client.query("SELECT no_such_function($1)", [1]) }
            let ambiguous = await capturePostgresError { try await client.query("SELECT twice(1)") }
            let division = await capturePostgresError { try await client.query("SELECT 1 / $1", [0]) }
            #expect(missing?.sqlState == PostgresError.SQLState.undefinedFunction)
            #expect(ambiguous?.sqlState == PostgresError.SQLState.ambiguousFunction)
            #expect(missing?.isMissingDefinition == true)
            #expect(ambiguous?.isMissingDefinition == true)
            #expect(division.map { $0.sqlState != nil && !$0.isMissingDefinition } == true)
        }
    }

    @Test func aCancelledCallerGetsCancellationNotAClosedClient() async throws {
        try await TestDatabases.shared.withClient { _, database in
            let client = PostgresClient(configuration: database.configuration)
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.query("SELECT 1")
            }
            let result = await task.result
            #expect(throws: CancellationError.self) { try result.get() }
            let stillWorks = try await client.scalar("SELECT 2", as: Int.self)
            #expect(stillWorks == 2)
            await client.close()
        }
    }

    @Test func withClientClosesOnErrorToo() async throws {
        try await TestDatabases.shared.withClient { _, database in
            var lent: PostgresClient?
            await #expect(throws: Boom.self) {
                try await PostgresClient.withClient(configuration: database.configuration) { client in
                    lent = client
                    try await client.query("SELECT 1")
                    throw Boom()
                }
            }
            let error = await capturePostgresError { try await lent?.query("SELECT 1") }
            #expect(error?.code == .closed)
        }
    }

    @Test func connectionFailureIsTypedAsUnavailable() async throws {
        let client = PostgresClient(configuration: .init(connectionString: "postgresql://nobody@127.0.0.1:1/none", connectTimeoutSeconds: 2))
        let error = await capturePostgresError { try await client.query("SELECT 1") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isUnavailable == true)
        #expect(await client.openConnections == 0)
        await client.close()
    }

    struct Boom: Error {}

    @Test func aThrowingTransactionLeavesNothingBehind() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            try await client.query("CREATE TABLE t (id int PRIMARY KEY)")
            await #expect(throws: Boom.self) {
                try await client.withTransaction { tx in
                    try await tx.query("INSERT INTO t VALUES ($1)", [1])
                    throw Boom()
                }
            }
            await #expect(throws: PostgresError.self) {
                try await client.withTransaction { tx in
                    try await tx.query("INSERT INTO t VALUES ($1)", [2])
                    try await tx.query("INSERT INTO t VALUES ($1)", [2])
                }
            }
            #expect(try await client.scalar("SELECT count(*) FROM t", as: Int.self) == 0)
        }
    }

    @Test func aCancelledTransactionRollsBack() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            try await client.query("CREATE TABLE t (id int PRIMARY KEY)")
            let inserted = Mailbox<Bool>()
            let task = Task {
                try await client.withTransaction { tx in
                    try await tx.query("INSERT INTO t VALUES ($1)", [1])
                    await inserted.append(true)
                    try await eventually(timeout: .seconds(30)) { Task.isCancelled }
                }
            }
            try await eventually { await inserted.count == 1 }
            task.cancel()
            _ = await task.result
            #expect(try await client.scalar("SELECT count(*) FROM t", as: Int.self) == 0)
        }
    }

    @Test func aCommittedTransactionIsVisibleToAnotherConnection() async throws {
        try await TestDatabases.shared.withClient { client, database in
            try await client.query("CREATE TABLE t (id int PRIMARY KEY)")
            let pid = try await client.withTransaction { tx in
                try await tx.query("INSERT INTO t VALUES ($1)", [7])
                return tx.backendPID
            }
            let other = PostgresClient(configuration: database.configuration)
            let (count, otherPID) = try await other.withConnection { connection in
                (try await connection.scalar("SELECT count(*) FROM t WHERE id = $1", [7], as: Int.self), connection.backendPID)
            }
            await other.close()
            #expect(count == 1)
            #expect(otherPID != pid)
        }
    }
}
