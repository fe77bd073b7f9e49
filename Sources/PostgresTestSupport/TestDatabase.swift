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

    /// Templates being prepared or ready; concurrent callers share the one preparation.
    private var templates: [String: Task<Void, any Error>] = [:]
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
    public func prepareTemplate(_ name: String, setup: @escaping @Sendable (PostgresClient) async throws -> Void) async throws {
        if let existing = templates[name] {
            return try await existing.value
        }
        let task = Task {
            let admin = try await TestCluster.shared.adminConnectionString()
            try await Self.withAdmin(admin) { client in
                try await client.query("DROP DATABASE IF EXISTS \(Self.quoted(name)) WITH (FORCE)")
                try await client.query("CREATE DATABASE \(Self.quoted(name))")
            }
            try await PostgresClient.withClient(configuration: .init(connectionString: admin).with(["dbname": name]), setup)
        }
        templates[name] = task
        try await task.value
    }

    private func create(template: String?) async throws -> TestDatabase {
        let admin = try await TestCluster.shared.adminConnectionString()
        counter += 1
        let name = "ecst_test_\(getpid())_\(counter)"
        try await Self.withAdmin(admin) { client in
            if let template {
                try await client.query("CREATE DATABASE \(Self.quoted(name)) TEMPLATE \(Self.quoted(template))")
            } else {
                try await client.query("CREATE DATABASE \(Self.quoted(name))")
            }
        }
        return TestDatabase(name: name, configuration: .init(connectionString: admin).with(["dbname": name]))
    }

    private func drop(_ database: TestDatabase) async {
        guard let admin = try? await TestCluster.shared.adminConnectionString() else { return }
        try? await Self.withAdmin(admin) { client in
            try await client.query("DROP DATABASE IF EXISTS \(Self.quoted(database.name)) WITH (FORCE)")
        }
    }

    private static func withAdmin(_ url: String, _ body: (PostgresClient) async throws -> Void) async throws {
        try await PostgresClient.withClient(configuration: .init(connectionString: url, maximumConnections: 1), body)
    }

    /// Database names here are generated or fixed by the tests, never user input; DDL cannot take
    /// them as parameters.
    private static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
