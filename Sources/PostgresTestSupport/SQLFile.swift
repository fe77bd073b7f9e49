import Foundation

/// Applies a SQL file with psql, as an operator does: `schema.sql` uses psql's variables and
/// conditionals (`-v part=users`), which a plain query cannot run.
public enum SQLFile {
    /// Runs `psql -v ON_ERROR_STOP=1 -f path` on `database` of the server `connectionString` names
    /// (a URL or keyword/value string), with `variables` as `-v NAME=VALUE`, and waits for it off
    /// the cooperative pool.
    public static func apply(_ path: String, connectionString: String, database: String? = nil, variables: [String: String] = [:]) async throws {
        let target = database.map { Self.connectionString(connectionString, database: $0) } ?? connectionString
        let psql = (try? LocalCluster.binDirectory()).map { $0 + "/psql" }.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        let tool = psql ?? "/usr/bin/psql"
        let settings = variables.sorted { $0.key < $1.key }.flatMap { ["-v", "\($0.key)=\($0.value)"] }
        try await offThePool { try LocalCluster.run(tool, ["-X", "-q", "-v", "ON_ERROR_STOP=1"] + settings + ["-f", path, "-d", target]) }
    }

    /// The same server, another database: the URL's path replaced, or `dbname` appended to a
    /// keyword/value string (where the last value of a keyword wins).
    public static func connectionString(_ base: String, database: String) -> String {
        if base.hasPrefix("postgres://") || base.hasPrefix("postgresql://"), var components = URLComponents(string: base) {
            components.path = "/" + database
            return components.string ?? base
        }
        return base + " dbname='" + database.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
