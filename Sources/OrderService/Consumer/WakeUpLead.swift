import Postgres

/// Whether this process's listening session holds the wake-up lead right now
/// (`order_service.lead_wake_ups()`, docs/design.md#one-listener-per-consumer), and so is where
/// this process reads; and whether its last read found the position held by another process.
actor WakeUpLead {
    /// The listener of the leader; nil while this process does not lead.
    private(set) var listener: PostgresListener?
    private var positionBusy = false

    func lead(with listener: PostgresListener) { self.listener = listener }

    func stepDown() {
        listener = nil
        positionBusy = false
    }

    /// The leader woken by writers must read again once the other process is done.
    func positionWasBusy() { positionBusy = true }

    /// Whether a read found the position held since the last call.
    func takePositionBusy() -> Bool {
        defer { positionBusy = false }
        return positionBusy
    }
}
