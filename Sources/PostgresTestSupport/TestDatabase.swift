import Foundation
import Logging
import Postgres

/// A database of its own for one test, so tests run in parallel. Created from a template that a
/// suite prepares once (for example with `schema.sql` applied), dropped by `withTestDatabase`.
public struct TestDatabase: Sendable {
    /// The database's name.
    public let name: String
    /// A superuser configuration pointing at this database.
    public let configuration: PostgresConfiguration

    /// Connects as another role (the services' own) to this database.
    public func configuration(asUser user: String) -> PostgresConfiguration {
        configuration.with(["user": user])
    }

    /// The URL form, for child processes.
    public var connectionString: String {
        configuration.connectionString
    }
}

/// Creates one database per call; serialises `CREATE DATABASE`, which cannot copy a template that
/// another session is using.
public actor TestDatabases {
    public static let shared = TestDatabases()

    private var templates: Set<String> = []
    private var counter = 0

    /// Runs `body` with a fresh database, then drops it. `template` names a database prepared by
    /// `prepareTemplate`; nil means an empty database.
    public func withTestDatabase<R: Sendable>(
        template: String? = nil,
        _ body: @Sendable (TestDatabase) async throws -> R
    ) async throws -> R {
        let database = try await create(template: template)
        do {
            let result = try await body(database)
            await drop(database)
            return result
        } catch {
            await drop(database)
            throw error
        }
    }

    /// Creates the template database `name` once per process, running `setup` on it.
    public func prepareTemplate(_ name: String, setup: @Sendable (PostgresClient) async throws -> Void) async throws {
        if templates.contains(name) { return }
        let admin = try await TestCluster.shared.adminConnectionString()
        try await withAdmin(admin) { client in
            try await client.query("DROP DATABASE IF EXISTS \(quoted(name)) WITH (FORCE)")
            try await client.query("CREATE DATABASE \(quoted(name))")
        }
        let client = PostgresClient(configuration: .init(connectionString: admin).with(["dbname": name]))
        do {
            try await setup(client)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
        templates.insert(name)
    }

    private func create(template: String?) async throws -> TestDatabase {
        let admin = try await TestCluster.shared.adminConnectionString()
        counter += 1
        let name = "ecst_test_\(getpid())_\(counter)"
        try await withAdmin(admin) { client in
            if let template {
                try await client.query("CREATE DATABASE \(quoted(name)) TEMPLATE \(quoted(template))")
            } else {
                try await client.query("CREATE DATABASE \(quoted(name))")
            }
        }
        return TestDatabase(name: name, configuration: .init(connectionString: admin).with(["dbname": name]))
    }

    private func drop(_ database: TestDatabase) async {
        guard let admin = try? await TestCluster.shared.adminConnectionString() else { return }
        try? await withAdmin(admin) { client in
            try await client.query("DROP DATABASE IF EXISTS \(quoted(database.name)) WITH (FORCE)")
        }
    }

    private func withAdmin(_ url: String, _ body: (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: .init(connectionString: url, maximumConnections: 1))
        do {
            try await body(client)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
    }

    /// Database names here are generated or fixed by the tests, never user input; DDL cannot take
    /// them as parameters.
    private func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
