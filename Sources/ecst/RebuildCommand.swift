import ArgumentParser
import Foundation
import Operations
import OrderService

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild the order-service's replica and every order's embedded data from the event log.",
        discussion: """
            Safe while the service runs: one transaction holds the consumer's position (the consumer \
            waits), rebuilds to a snapshot and stores it as the position; later events are the \
            consumer's as usual. Refuses, changing nothing, when the log no longer holds the state of \
            every replica row.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The consumer whose replica to rebuild.") var consumer = defaultConsumerName

    func run() async throws {
        try await withDatabase(database) { client in
            let line = ProgressLine()
            let started = ContinuousClock.now
            let report = try await ReplicaRebuild(database: client, consumer: consumer).run { step in
                switch step {
                case .waitingForConsumer: line.update("waiting for consumer '\(consumer)' to finish its chunk")
                case .checkingLog: line.update("checking that the log holds every replica row's state")
                case .replica: line.update("rebuilding the replica from the log")
                case .orders(let done, let total):
                    line.update("orders \(done)/\(total)", fraction: total == 0 ? 1 : Double(done) / Double(total))
                case .position: line.update("storing the position")
                }
            }
            line.finish()
            if database.json { return try printJSON(report) }
            print(
                "rebuilt to snapshot \(report.snapshot) in \(started.duration(to: .now).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))"
            )
            print("  \(report.entities) users and products from the log, \(report.replicaRowsChanged) replica rows changed")
            print(
                "  \(report.orders) orders, \(report.ordersChanged) changed"
                    + (report.ordersWithoutSource > 0 ? ", \(report.ordersWithoutSource) left as they were (user or product unknown to the log)" : ""))
        }
    }
}
