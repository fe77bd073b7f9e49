import Postgres

extension PostgresClient {
    /// Whether the session's role is a superuser: the operations that write the append-only log or
    /// create replication objects check it first, to refuse with a clear message.
    func isSuperuser() async throws -> Bool {
        try await query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0].decode(0)
    }
}
