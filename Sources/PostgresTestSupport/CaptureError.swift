import Postgres

/// The `PostgresError` that `body` throws, or nil when it succeeds or throws something else.
public func capturePostgresError<T>(_ body: () async throws -> T) async -> PostgresError? {
    do {
        _ = try await body()
        return nil
    } catch let error as PostgresError {
        return error
    } catch {
        return nil
    }
}
