import Foundation

/// The share of this machine's CPU time the hypervisor gave to others ("steal" in /proc/stat) over
/// a stretch of the benchmark. On a shared virtual machine it comes and goes by the minute, and a
/// ratio whose two sides met different steal compares nothing: reported beside the figures so a
/// disturbed run can be told from a slow one.
struct HostSteal {
    private let steal: Double
    private let total: Double

    /// Now; nil where /proc/stat has no steal column (not Linux, or no virtualisation accounting).
    static func now() -> HostSteal? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return nil }
        // cpu user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
        // already counted in user and nice.
        let ticks = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
        guard ticks.count == 8 else { return nil }
        return HostSteal(steal: ticks[7], total: ticks.reduce(0, +))
    }

    /// The steal share, as a percentage of all CPU time, since `start`.
    func percent(since start: HostSteal) -> Double {
        let elapsed = total - start.total
        return elapsed > 0 ? 100 * (steal - start.steal) / elapsed : 0
    }

    /// The steal share from `start` (taken with `now()`) to now; nil where either is unknown.
    static func percent(since start: HostSteal?) -> Double? {
        guard let start, let end = now() else { return nil }
        return end.percent(since: start)
    }
}
