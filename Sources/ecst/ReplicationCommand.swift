import ArgumentParser
import Foundation
import Operations

/// `ecst replication publish|subscribe`: a database per service (docs/replication.md).
struct ReplicationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replication",
        abstract: "Set up a database per service: the users' server publishes user_service.events, the orders' server subscribes.",
        discussion: """
            Apply schema.sql with -v part=users to the users' server and -v part=orders to the orders' server first; \
            run `publish` on the users' server, then `subscribe` on the orders' server, each as its superuser. \
            `ecst status` on either server shows the replication's state. See docs/replication.md.
            """,
        subcommands: [Publish.self, Subscribe.self]
    )

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "On the users' server: the events publication, the ecst_replication role and the subscriber's slot.",
            discussion: """
                Needs wal_level = logical. ecst_replication may log in for replication and read user_service.events, no other \
                table; allow it in pg_hba.conf for this database only (a replication role may also stream the whole \
                server's WAL where pg_hba.conf allows `replication` connections for it: docs/replication.md#the-replication-role).
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: "The ecst_replication role's password (default: $ECST_REPLICATION_PASSWORD).")
        var replicationPassword: String?

        @Option(help: "The replication slot to create for the orders' server (one per subscribing database).")
        var slot = "ecst_events"

        func run() async throws {
            guard let password = replicationPassword ?? ProcessInfo.processInfo.environment["ECST_REPLICATION_PASSWORD"], !password.isEmpty
            else {
                throw ValidationError("no password for ecst_replication: pass --replication-password or set ECST_REPLICATION_PASSWORD")
            }
            try await withDatabase(database, probe: "user_service.events") { client in
                let created = try await EventReplication.publish(on: client, replicationPassword: password, slot: slot)
                if database.json { return try printJSON(["slot": slot, "slot_created": created ? "true" : "false"]) }
                print("published user_service.events (inserts) as ecst_events; role ecst_replication; slot \(slot) \(created ? "created" : "already there")")
            }
        }
    }

    struct Subscribe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "On the orders' server: subscribe user_service.events to the users' server's publication.",
            discussion: """
                Copies the events already published, then streams new ones. Run again with a new --publisher to change \
                only the connection string.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: "The users' server, as a libpq connection string or URI that logs in as ecst_replication.")
        var publisher: String

        @Option(help: "The slot `ecst replication publish` created for this database.")
        var slot = "ecst_events"

        func run() async throws {
            try await withDatabase(database, probe: "user_service.events") { client in
                let created = try await EventReplication.subscribe(on: client, publisher: publisher, slot: slot)
                if database.json { return try printJSON(["subscription": "ecst_events", "created": created ? "true" : "false"]) }
                print(
                    created
                        ? "subscribed user_service.events to \(DatabaseOptions.redacted(publisher)) through slot \(slot)"
                        : "subscription ecst_events now connects to \(DatabaseOptions.redacted(publisher))")
            }
        }
    }
}
