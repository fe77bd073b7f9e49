import Postgres

/// A transaction on a session of its own, left open after its first statements until `commit()`
/// or `rollback()`: a writer caught in the middle, as tests need it to provoke a race.
public final class OpenTransaction: Sendable {
    private let client: PostgresClient
    private let task: Task<Void, any Error>
    private let mayCommit: Mailbox<Bool>

    private init(client: PostgresClient, task: Task<Void, any Error>, mayCommit: Mailbox<Bool>) {
        self.client = client
        self.task = task
        self.mayCommit = mayCommit
    }

    /// Opens a transaction, runs `body` in it, and returns once `body` has run; rethrows its error.
    public static func begin(
        on configuration: PostgresConfiguration,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Void
    ) async throws -> OpenTransaction {
        let client = PostgresClient(configuration: configuration)
        let ran = Mailbox<Bool>()
        let mayCommit = Mailbox<Bool>()
        let task = Task {
            do {
                try await client.withTransaction { tx in
                    try await body(tx)
                    await ran.append(true)
                    try await eventually(timeout: .seconds(60), "the test to let the transaction end") { await mayCommit.count > 0 }
                    if await mayCommit.items.first == false { throw RolledBack() }
                }
            } catch {
                await ran.append(false)
                throw error
            }
        }
        try await eventually { await ran.count > 0 }
        let open = OpenTransaction(client: client, task: task, mayCommit: mayCommit)
        if await ran.items.first == false {
            try await task.value
        }
        return open
    }

    /// Rolls back and closes the session.
    public func rollback() async throws {
        await mayCommit.append(false)
        do {
            try await task.value
        } catch is RolledBack {
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    private struct RolledBack: Error {}

    /// Commits and closes the session.
    public func commit() async throws {
        await mayCommit.append(true)
        do {
            try await task.value
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }
}
