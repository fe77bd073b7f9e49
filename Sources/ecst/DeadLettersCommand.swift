import ArgumentParser
import Foundation
import Operations
import OrderService

struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Events a consumer could not apply: list them, retry them, or discard them.",
        subcommands: [List.self, Retry.self, Discard.self]
    )

    struct Consumer: ParsableArguments {
        @Option(help: "The consumer whose dead letters to use.")
        var consumer = defaultConsumerName
    }

    /// Dead letter ids, or --all.
    struct Selection: ParsableArguments {
        @Argument(help: "Dead letter ids (as `list` shows them).")
        var ids: [Int64] = []

        @Flag(help: "Every dead letter of the consumer.")
        var all = false

        func validate() throws {
            if all == !ids.isEmpty { throw ValidationError("name dead letter ids or pass --all (not both)") }
        }

        var selection: DeadLetters.Selection { all ? .all : .ids(ids) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var consumer: Consumer
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            try await withDatabase(database) { client in
                let entries = try await DeadLetters(database: client, consumer: consumer.consumer).list(limit: limit)
                if database.json { return try printJSON(entries) }
                if entries.isEmpty { return print("no dead letters for consumer '\(consumer.consumer)'") }
                printTable(
                    header: ["id", "event", "type", "since", "reason"],
                    rows: entries.map { ["\($0.id)", "\($0.eventID)", $0.eventType, $0.createdAt, $0.reason] }
                )
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check dead letters again with the current rules; apply those now applicable and remove them."
        )
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var consumer: Consumer
        @OptionGroup var selection: Selection

        func run() async throws {
            try await withDatabase(database) { client in
                let outcomes = try await DeadLetters(database: client, consumer: consumer.consumer).retry(selection.selection)
                if database.json { return try printJSON(outcomes) }
                if outcomes.isEmpty { return print("no matching dead letters for consumer '\(consumer.consumer)'") }
                for outcome in outcomes {
                    print("\(outcome.id) (event \(outcome.eventID)): \(outcome.result.rawValue)" + (outcome.reason.map { ": \($0)" } ?? ""))
                }
                let applied = outcomes.filter { $0.result == .applied }.count
                print("\(applied) applied, \(outcomes.count - applied) kept")
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters (their events stay in the log).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var consumer: Consumer
        @OptionGroup var selection: Selection

        func run() async throws {
            try await withDatabase(database) { client in
                let count = try await DeadLetters(database: client, consumer: consumer.consumer).discard(selection.selection)
                if database.json { return try printJSON(["discarded": count]) }
                print("discarded \(count) dead letter(s)")
            }
        }
    }
}
