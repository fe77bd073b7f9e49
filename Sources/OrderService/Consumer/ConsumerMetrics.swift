import Metrics

/// The consumer's Prometheus series (the lag gauge is LagGauge's).
struct ConsumerMetrics: Sendable {
    let eventsApplied = Counter(label: "ecst_consumer_events_applied_total")
    let chunks = Counter(label: "ecst_consumer_chunks_total")
    let ordersUpdated = Counter(label: "ecst_consumer_orders_updated_total")
    let deadLetters = Counter(label: "ecst_consumer_dead_letters_total")
    let failures = Counter(label: "ecst_consumer_failures_total")
    let applyDuration = Timer(label: "ecst_consumer_apply_duration_seconds")
}
