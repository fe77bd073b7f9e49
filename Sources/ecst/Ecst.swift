import ArgumentParser

/// `ecst`: operating the event log, the consumers and the order-service's replica.
@main
struct Ecst: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecst",
        abstract: "Operate ecst: consumer status, dead letters, rebuilding the order-service's replica, pruning the event log.",
        discussion: """
            Connects with DATABASE_URL (or --database-url): a libpq connection string or URI. `status`, \
            `dead-letters` and `rebuild` work as the order_service role or the database owner; `prune` \
            needs the owner (a superuser), since the event log is append-only for the services.
            """,
        subcommands: [
            StatusCommand.self, TokenCommand.self, DeadLettersCommand.self, RebuildCommand.self, PruneCommand.self, ReplicationCommand.self,
        ]
    )
}
