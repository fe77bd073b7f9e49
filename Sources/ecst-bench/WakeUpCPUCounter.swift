import Foundation
import Postgres

/// Where the CPU of an on/off run goes: over a window inside the pgbench run (from 1 s after its
/// start to 1 s before its end, while its sessions exist), the CPU time (from /proc, so on the
/// benchmark's own machine) of pgbench's backends, of the consumers' backends and of the
/// order-service processes, per update committed meanwhile, and the consumer's applying reads a
/// second. The tps ratio of a saturated machine cannot say whether writers pay at commit or the
/// consumer's work takes their CPU; these figures can (BENCHMARKS.md, twenty-second session).
final class WakeUpCPUCounter: @unchecked Sendable {
    // @unchecked Sendable: `task` is only touched by the benchmark's one driving task.
    private let client: PostgresClient
    private var task: Task<BenchResults.WakeUpCPU?, Never>?

    init(url: String) {
        client = PostgresClient(configuration: .init(connectionString: url, maximumConnections: 1).named("ecst-bench/cpu"))
    }

    private struct Reading {
        var at: ContinuousClock.Instant
        var writers: Double
        var consumerBackends: Double
        var orderServices: Double
        var updates: Int64
        var applies: Int64
    }

    /// Starts counting for a pgbench run of `seconds` starting now; `orderServices`: the pids of
    /// the order-service processes running.
    func start(seconds: Int, orderServices: [Int32]) {
        let client = self.client
        task = Task {
            func cpu(_ pids: [Int32]) -> Double { pids.map { ProcessUsage.read(pid: $0).cpuSeconds }.reduce(0, +) }
            // The pids are read once, at the window's start: pgbench's sessions all connect at its start.
            var writers: [Int32] = []
            var consumers: [Int32] = []
            func read() async -> Reading? {
                guard
                    let row = try? await client.query(
                        """
                        SELECT coalesce(array_agg(pid) FILTER (WHERE application_name = 'pgbench'), '{}'),
                               coalesce(array_agg(pid) FILTER (WHERE application_name LIKE 'order-service%'), '{}'),
                               (SELECT last_value FROM user_service.events_id_seq),
                               (SELECT coalesce(sum(applied_batches), 0)::bigint FROM order_service.consumer_positions)
                        FROM pg_stat_activity
                        """
                    )[0],
                    let updates = try? row.decode(2, as: Int64.self), let applies = try? row.decode(3, as: Int64.self)
                else { return nil }
                if writers.isEmpty {
                    writers = (try? row.decode(0, as: [Int32].self)) ?? []
                    consumers = (try? row.decode(1, as: [Int32].self)) ?? []
                }
                return Reading(
                    at: .now, writers: cpu(writers), consumerBackends: cpu(consumers), orderServices: cpu(orderServices), updates: updates,
                    applies: applies)
            }
            guard seconds > 2, (try? await Task.sleep(for: .seconds(1))) != nil, let first = await read(), !writers.isEmpty,
                (try? await Task.sleep(for: .seconds(seconds - 2))) != nil, let last = await read()
            else { return nil }
            let updates = Double(max(last.updates - first.updates, 1))
            let elapsedSeconds = (last.at - first.at).seconds
            return BenchResults.WakeUpCPU(
                writersMicrosecondsPerUpdate: (last.writers - first.writers) * 1e6 / updates,
                consumerBackendsMicrosecondsPerUpdate: (last.consumerBackends - first.consumerBackends) * 1e6 / updates,
                orderServicesMicrosecondsPerUpdate: (last.orderServices - first.orderServices) * 1e6 / updates,
                appliesPerSecond: Double(last.applies - first.applies) / elapsedSeconds
            )
        }
    }

    /// The window's figures, nil when it could not be read (a run too short, /proc unreadable).
    func stop() async -> BenchResults.WakeUpCPU? {
        let value = await task?.value ?? nil
        task = nil
        return value
    }

    func close() async { await client.close() }
}
