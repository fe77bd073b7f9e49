import Foundation
import Postgres

extension TestDatabases {
    /// A template database with the SQL file at `path` applied by psql with `variables` (once per
    /// process); returns its name for `withTestDatabase(template:)`.
    public func template(applyingSQLFile path: String, name: String = "ecst_template", variables: [String: String] = [:]) async throws -> String {
        let admin = try await TestCluster.shared.adminConnectionString()
        try await prepareTemplate(name) { _ in
            try await SQLFile.apply(path, connectionString: admin, database: name, variables: variables)
        }
        return name
    }
}
