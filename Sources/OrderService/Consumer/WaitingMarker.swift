import Logging
import Postgres

/// Tells writers whether this consumer waits for a NOTIFY (see `user_service.notify_events()` in
/// schema.sql): armed, it holds the 64 advisory lock slots in shared mode on a session of its own,
/// and writers notify; disarmed, it holds none, and writers skip the NOTIFY and its commit-wide
/// lock while the busy consumer keeps rereading the table.
///
/// Arming takes the slots that are free at once and waits for the others, which in-flight writers
/// that skipped the NOTIFY hold until they commit. After taking any slot it calls `recheck`, so the
/// consumer rereads the table and finds what those writers committed.
actor WaitingMarker {
    /// The advisory lock class of the slots ('ECST'); the slot is the lock's second key.
    static let lockClass: Int32 = 1_162_040_148
    static let slots = 64

    private let database: PostgresClient
    private let logger: Logger
    private let recheck: @Sendable () -> Void
    private var armed = false
    private var changed: CheckedContinuation<Void, Never>?

    init(database: PostgresClient, logger: Logger, recheck: @escaping @Sendable () -> Void) {
        self.database = database
        self.logger = logger
        self.recheck = recheck
    }

    func arm() { set(true) }
    func disarm() { set(false) }

    private func set(_ value: Bool) {
        guard armed != value else { return }
        armed = value
        wake()
    }

    /// Until the next `arm()`/`disarm()`, or cancellation.
    private func waitForChange() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { continuation.resume() } else { changed = continuation }
            }
        } onCancel: {
            Task { await self.wake() }
        }
    }

    private func wake() {
        changed?.resume()
        changed = nil
    }

    /// Holds or releases the slots as `arm()`/`disarm()` ask, until cancelled.
    func run() async {
        var failures = 0
        while !Task.isCancelled {
            guard armed else {
                await waitForChange()
                continue
            }
            do {
                try await holdSlotsOnASession()
                failures = 0
            } catch {
                // The session (and its locks) is gone: writers stop notifying until we hold the
                // slots again, and the recheck after retaking them covers the gap.
                if Task.isCancelled { return }
                failures += 1
                logger.warning("could not hold the wait slots; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(min(2_000, 50 << min(failures, 5))))
            }
        }
    }

    private nonisolated func holdSlotsOnASession() async throws {
        try await database.withConnection { connection in try await self.holdSlots(on: connection) }
    }

    /// Takes the slots while armed, then releases them all on the same session before it goes
    /// back to the pool. A busy slot is waited for in a short lock wait, so it is taken (and the
    /// table reread) the moment its writer commits, and a disarm is never kept waiting long.
    private nonisolated func holdSlots(on connection: PostgresConnection) async throws {
        var held: Set<Int32> = []
        var patience = 10
        while await armed, !Task.isCancelled {
            let missing = (0..<Int32(Self.slots)).filter { !held.contains($0) }
            if missing.isEmpty {
                patience = 10
                await waitForChange()
                continue
            }
            let taken = try await connection.prepared(
                "SELECT s FROM unnest($1::int[]) AS s WHERE pg_try_advisory_lock_shared($2, s)",
                ["{" + missing.map(String.init).joined(separator: ",") + "}", Self.lockClass]
            ).map { try $0.decode(0, as: Int32.self) }
            held.formUnion(taken)
            if !taken.isEmpty { recheck() }
            guard let busy = missing.first(where: { !held.contains($0) }) else { continue }
            do {
                try await connection.withTransaction { tx in
                    try await tx.query("SELECT set_config('lock_timeout', $1, true)", ["\(patience)ms"])
                    try await tx.query("SELECT pg_advisory_lock_shared($1, $2)", [Self.lockClass, busy])
                }
                held.insert(busy)
                recheck()
            } catch let error as PostgresError where error.sqlState == "55P03" {
                // Still busy (a long transaction): wait longer next time, up to 100 ms.
                patience = min(patience * 2, 100)
            }
        }
        if !held.isEmpty {
            try await connection.query("SELECT pg_advisory_unlock_all()")
        }
    }
}
