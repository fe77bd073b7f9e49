import ArgumentParser
import Foundation
import Operations
import ServiceSupport

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each consumer's position, lag, last applied time and dead letters; the event log's size; replication, if any.",
        discussion: """
            In a database per service, run it against each server: the users' server shows its subscribers' slots (lag, \
            the WAL kept for them, a warning when that threatens the disk), the orders' server its subscription and consumers.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Warn when a replication slot with no subscriber connected keeps more WAL than this many MiB.")
    var warnRetainedMib: Int64 = EventReplicationStatus.retainedBytesWarning >> 20

    func validate() throws {
        guard warnRetainedMib >= 0 else { throw ValidationError("--warn-retained-mib must be 0 or more") }
    }

    func run() async throws {
        try await withDatabase(database, probe: "user_service.events") { client in
            let status = try await SystemStatus.read(from: client, warnAboveRetainedBytes: warnRetainedMib << 20)
            if database.json { return try printJSON(status) }
            let log = status.eventLog
            print(
                "event log   \(log.events) events, ids \(log.firstID.map(String.init) ?? "-")..\(log.lastID.map(String.init) ?? "-"), \(log.totalSize) on disk")
            print("            oldest \(log.oldest ?? "-"), newest \(log.newest ?? "-")")
            printReplication(status)
            if status.server == "users" { return }
            if status.consumers.isEmpty {
                print("consumers   none registered (order-service registers itself when it starts)")
                return
            }
            print("")
            let header = ["consumer", "position", "head", "lag", "applied", "last applied", "dead letters", "applied by"]
            let rows = status.consumers.map { c in
                [
                    c.consumer, "\(c.position)", "\(c.head)", "\(c.lag)", "\(c.appliedEvents)", c.lastAppliedAt ?? "never", "\(c.deadLetters)",
                    c.appliedBy ?? "-",
                ]
            }
            printTable(header: header, rows: rows)
        }
    }
}

/// The replication lines of a database per service; nothing for a single database without any.
private func printReplication(_ status: SystemStatus) {
    if status.server == "users" && status.replicationSlots.isEmpty {
        print("replication none: no subscriber's slot (ecst replication publish creates one)")
    }
    for slot in status.replicationSlots {
        let lag = slot.lagBytes.map { "\($0) bytes" } ?? "-"
        let seconds = slot.replayLagSeconds.map { String(format: "%.3f s", $0) } ?? (slot.connected ? "idle" : "-")
        let retained = slot.retainedBytes.map { "\($0 / 1024) KiB" } ?? "-"
        print(
            "replication slot \(slot.slot): \(slot.connected ? "subscriber connected" : "NO SUBSCRIBER CONNECTED"), lag \(lag) / \(seconds), "
                + "WAL kept \(retained) (\(slot.walStatus ?? "-"))")
        if let warning = slot.warning { print("WARNING     \(warning)") }
    }
    if let subscription = status.subscription {
        let heard = subscription.secondsSinceMessage.map { String(format: "%.1f s ago", $0) } ?? "never"
        let state = !subscription.enabled ? "DISABLED" : subscription.workerRunning ? "streaming" : "WORKER NOT RUNNING"
        print(
            "replication subscription \(subscription.subscription): \(state), received up to \(subscription.receivedLSN ?? "-"), "
                + "last heard from the users' server \(heard)")
    }
}

/// Columns padded to their widest cell.
func printTable(header: [String], rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}
