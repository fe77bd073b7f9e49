/// A `pg_snapshot` read from its text form (`xmin:xmax:xip,...`): which transactions it sees as
/// finished, as `pg_visible_in_snapshot` says, without asking the server again.
public struct PostgresSnapshot: Sendable, Equatable {
    public let xmin: UInt64
    public let xmax: UInt64
    /// Transactions in progress when it was taken (each at least `xmin`, below `xmax`).
    public let inProgress: Set<UInt64>

    /// Nil unless `text` is a snapshot's text form.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]), xmin <= xmax else { return nil }
        var inProgress = Set<UInt64>()
        for xid in parts[2].split(separator: ",") {
            guard let value = UInt64(xid) else { return nil }
            inProgress.insert(value)
        }
        self.xmin = xmin
        self.xmax = xmax
        self.inProgress = inProgress
    }

    /// Whether the transaction `xid` had finished (committed or rolled back) when the snapshot was
    /// taken: `pg_visible_in_snapshot(xid, snapshot)`.
    public func isVisible(_ xid: UInt64) -> Bool {
        xid < xmin || (xid < xmax && !inProgress.contains(xid))
    }
}
