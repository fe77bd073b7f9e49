import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import PostgresTestSupport
import ServiceSupport
import Testing
import UserService

/// The repository's schema.sql, found from this file's path.
let schemaPath = repositoryFile("schema.sql")

/// A fresh database with schema.sql applied, the user-service's router on it (connected as the
/// `user_service` role), and a superuser client to inspect the tables.
func withUserService(_ body: @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void) async throws {
    let template = try await TestDatabases.shared.template(applyingSQLFile: schemaPath)
    try await TestDatabases.shared.withClient(template: template) { admin, database in
        try await PostgresClient.withClient(configuration: database.configuration(asUser: "user_service")) { service in
            let app = Application(router: buildUserServiceRouter(database: service))
            try await app.test(.router) { client in try await body(client, admin) }
        }
    }
}

/// Rows of users and events, to check that a refused request wrote nothing.
struct Snapshot: Equatable {
    var users: String
    var products: String
    var events: Int

    static func take(_ admin: PostgresClient) async throws -> Snapshot {
        Snapshot(
            users: try await admin.scalar("SELECT coalesce(json_agg(u ORDER BY id)::text, '') FROM user_service.users u"),
            products: try await admin.scalar("SELECT coalesce(json_agg(p ORDER BY id)::text, '') FROM user_service.products p"),
            events: try await admin.scalar("SELECT count(*) FROM user_service.events")
        )
    }
}
