import Foundation

/// Runs blocking `work` (a tool waited for: initdb, pg_ctl, psql) on a thread of its own and
/// awaits it. On Swift's cooperative pool it would hold one of the pool's few threads (two on a
/// two-core machine) for seconds; two such at once stall every task of the test process, and an
/// unrelated test's 10 s wait timed out so.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<T, any Error>) in
        Thread { done.resume(with: Result { try work() }) }.start()
    }
}
