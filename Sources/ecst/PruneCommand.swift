import ArgumentParser
import Foundation
import Operations

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete events every registered consumer has applied and that are older than --keep.",
        discussion: """
            Needs the database owner's connection (a superuser). Keeps each user's and product's \
            latest applicable event, so `ecst rebuild` still works, and every event a dead letter \
            refers to. Deletes in small transactions; safe while the services run.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Keep events younger than this: 90s, 30m, 12h, 7d, 2w.") var keep: String
    @Flag(help: "Count what would be deleted; delete nothing.") var dryRun = false

    func validate() throws {
        do { _ = try KeepDuration.seconds(from: keep) } catch let error as OperationsError { throw ValidationError(error.message) }
    }

    func run() async throws {
        let seconds = try KeepDuration.seconds(from: keep)
        try await withDatabase(database, probe: "user_service.events") { client in
            let line = ProgressLine()
            let report = try await EventLogPruner(database: client, keepSeconds: seconds).run(dryRun: dryRun) { done, total, deleted in
                line.update(
                    "examined \(done)/\(total) ids, \(dryRun ? "would delete" : "deleted") \(deleted)", fraction: total == 0 ? 1 : Double(done) / Double(total))
            }
            line.finish()
            if database.json { return try printJSON(report) }
            print("\(dryRun ? "would delete" : "deleted") \(report.deleted) event(s); \(report.remaining) remain")
        }
    }
}
