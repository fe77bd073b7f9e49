import Foundation
import Postgres

extension TestDatabases {
    /// A template database with the SQL file at `path` applied (once per process); returns its name
    /// for `withTestDatabase(template:)`.
    public func template(applyingSQLFile path: String, name: String = "ecst_template") async throws -> String {
        let sql = try String(contentsOfFile: path, encoding: .utf8)
        try await prepareTemplate(name) { client in
            _ = try await client.withConnection { connection in try await connection.execute(script: sql) }
        }
        return name
    }
}
