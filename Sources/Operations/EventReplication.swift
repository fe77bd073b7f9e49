import Postgres
import ServiceSupport

/// A database per service (docs/replication.md): the users' server publishes `user_service.events`,
/// the orders' server subscribes a copy of it. Setting up calls schema.sql's functions
/// (`publish_events`, `create_events_slot`, `subscribe_to_events`); its state is
/// `EventReplicationStatus`.
public enum EventReplication {
    /// On the users' server, as a superuser: the publication, the replication role (with this
    /// password) and the subscriber's slot. Returns whether the slot was created (false: it was
    /// there already). Refuses, saying what to change, unless `wal_level` is `logical`.
    public static func publish(on database: PostgresClient, replicationPassword: String, slot: String) async throws -> Bool {
        try await requireSuperuser(database, "publish")
        let walLevel: String = try await database.query("SELECT current_setting('wal_level')")[0].decode(0)
        guard walLevel == "logical" else {
            throw OperationsError(
                .invalidArgument, "the users' server has wal_level = \(walLevel): set wal_level = logical (postgresql.conf or -c) and restart it")
        }
        try await database.query("SELECT user_service.publish_events($1)", [replicationPassword])
        // A slot cannot be created in a transaction that has written: its own statement.
        return try await database.query("SELECT user_service.create_events_slot($1)", [slot])[0].decode(0)
    }

    /// On the orders' server, as a superuser: subscribes the events copy to the users' server
    /// (`publisher`, a libpq connection string as `ecst_replication`) through `slot`, copying the
    /// events already there. Returns whether the subscription was created (false: it existed, and
    /// only its connection string changed).
    public static func subscribe(on database: PostgresClient, publisher: String, slot: String) async throws -> Bool {
        try await requireSuperuser(database, "subscribe")
        let created: Bool = try await database.query("SELECT user_service.subscribe_to_events($1, $2)", [publisher, slot])[0].decode(0)
        if created {
            // Fixed statements: these connect to the publisher, which a function may not.
            try await database.query("ALTER SUBSCRIPTION ecst_events ENABLE")
            try await database.query("ALTER SUBSCRIPTION ecst_events REFRESH PUBLICATION")
        }
        return created
    }

    private static func requireSuperuser(_ database: PostgresClient, _ what: String) async throws {
        guard try await database.isSuperuser() else {
            throw OperationsError(.notSuperuser, "\(what) creates replication objects: connect as the server's superuser, not as a service role")
        }
    }
}
