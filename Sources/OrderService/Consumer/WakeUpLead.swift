/// Whether this process's listening session holds the wake-up lead right now
/// (`order_service.lead_wake_ups()`, docs/design.md#one-listener-per-consumer): the leader is the
/// only one woken by writers, so it alone must read again after another process held the position.
actor WakeUpLead {
    private(set) var isLeading = false

    func set(_ leading: Bool) { isLeading = leading }
}
