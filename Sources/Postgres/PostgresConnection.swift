import Logging
import NIOPosix

/// One database session lent by `PostgresClient.withConnection`. A statement is sent from the
/// caller's thread without blocking and its result awaited on the process's result thread
/// (docs/design.md#statements-without-a-hop); what must block (a first prepare) runs on the
/// client's thread pool. Never a blocking call on the cooperative pool or an event loop.
///
/// `@unchecked Sendable`: a connection is used by one task at a time (the pool lends it to exactly
/// one `withConnection` body), so its handle is never touched from two threads at once.
public final class PostgresConnection: @unchecked Sendable {
    let handle: ConnectionHandle
    private let threadPool: NIOThreadPool

    init(handle: ConnectionHandle, threadPool: NIOThreadPool) {
        self.handle = handle
        self.threadPool = threadPool
    }

    /// The server process serving this session (`pg_backend_pid()`).
    public var backendPID: Int32 { handle.backendPID }

    /// Runs one statement, binding `parameters` to `$1, $2, ...`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> PostgresRows {
        let bound = try parameters.map { try $0.postgresParameter.validated() }
        return try await send(.parameters(sql, bound)) { handle in try handle.exec(sql, bound) }
    }

    /// Like `query`, but prepares the statement once per session and reuses the plan after that.
    /// For the hot, fixed statements of a service.
    @discardableResult
    public func prepared(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> PostgresRows {
        let bound = try parameters.map { try $0.postgresParameter.validated() }
        // Prepared the first time on the thread pool (two round trips); sent at once after that.
        guard let name = handle.preparedName(for: sql) else {
            return try await run { handle in try handle.execPrepared(sql, bound) }
        }
        return try await send(.prepared(name: name, bound)) { handle in try handle.execPrepared(sql, bound) }
    }

    /// Runs a parameterless script (several statements allowed), such as a schema file.
    @discardableResult
    public func execute(script sql: String) async throws -> PostgresRows {
        try await send(.script(sql)) { handle in try handle.execSimple(sql) }
    }

    /// Sends a statement without a thread hop where the platform allows (Linux's epoll), else runs
    /// `blocking` on the thread pool.
    private func send(
        _ statement: ConnectionHandle.Statement,
        otherwise blocking: @escaping @Sendable (ConnectionHandle) throws -> PostgresRows
    ) async throws -> PostgresRows {
        #if os(Linux)
            // As on the thread pool: a task cancelled before its statement starts does not run it.
            try Task.checkCancellation()
            return try await ResultPoller.shared.run(handle, statement)
        #else
            return try await run(blocking)
        #endif
    }

    func run<R: Sendable>(_ work: @escaping @Sendable (ConnectionHandle) throws -> R) async throws -> R {
        let handle = self.handle
        do {
            return try await threadPool.runIfActive { try work(handle) }
        } catch let error as PostgresError {
            throw error
        } catch let error as CancellationError {
            throw error  // the task was cancelled before the statement started: it did not run
        } catch  where Task.isCancelled {
            throw CancellationError()
        } catch {
            // The thread pool is shut down only when the client is closed.
            throw PostgresError(code: .closed, message: "the client is closed: \(error)")
        }
    }
}
