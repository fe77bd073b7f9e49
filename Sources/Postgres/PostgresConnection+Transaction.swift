extension PostgresConnection {
    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws or the task
    /// is cancelled. The error from `body` is rethrown, never one from the rollback.
    public func withTransaction<R>(
        isolation: IsolationLevel = .readCommitted,
        _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        try await execute(script: isolation.beginStatement)
        let result: R
        do {
            result = try await body(self)
            try Task.checkCancellation()
        } catch {
            // Rolled back even when this task is cancelled, so in an unstructured task. A broken
            // session rolls back by itself on the server, and the pool drops it.
            _ = await Task { try await self.execute(script: "ROLLBACK") }.result
            throw error
        }
        try await execute(script: "COMMIT")
        return result
    }

    public enum IsolationLevel: Sendable {
        case readCommitted, repeatableRead, serializable

        var beginStatement: String {
            switch self {
            case .readCommitted: return "BEGIN"
            case .repeatableRead: return "BEGIN ISOLATION LEVEL REPEATABLE READ"
            case .serializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE"
            }
        }
    }
}
