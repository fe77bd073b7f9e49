import ArgumentParser
import Foundation
import Operations

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each consumer's position, lag, last applied time and dead letters; the event log's size."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try await withDatabase(database) { client in
            let status = try await SystemStatus.read(from: client)
            if database.json { return try printJSON(status) }
            let log = status.eventLog
            print(
                "event log   \(log.events) events, ids \(log.firstID.map(String.init) ?? "-")..\(log.lastID.map(String.init) ?? "-"), \(log.totalSize) on disk")
            print("            oldest \(log.oldest ?? "-"), newest \(log.newest ?? "-")")
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

/// Columns padded to their widest cell.
func printTable(header: [String], rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}
