import ArgumentParser
import Foundation
import Logging
import Operations
import Postgres

/// The connection every subcommand takes.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "A libpq connection string or URI (default: $DATABASE_URL).")
    var databaseURL: String?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    /// `body` with a client whose first query (of `probe`, a table every use of it needs) already
    /// succeeded (or a clear error naming the server), closed afterwards.
    func withConnectedClient(probe: String, _ body: (PostgresClient) async throws -> Void) async throws {
        guard let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            throw ValidationError("no database: set DATABASE_URL or pass --database-url")
        }
        // Failures are reported once, by the command; the client's own warnings would repeat them.
        var logger = Logger(label: "ecst")
        logger.logLevel = .error
        let configuration = PostgresConfiguration(connectionString: url, maximumConnections: 2, connectTimeoutSeconds: 5).named("ecst")
        try await PostgresClient.withClient(configuration: configuration, logger: logger) { client in
            do {
                _ = try await client.query("SELECT 1 FROM \(probe) LIMIT 1")
            } catch let error as PostgresError {
                let schemaMissing = [PostgresError.SQLState.undefinedTable, PostgresError.SQLState.invalidSchemaName].contains(error.sqlState)
                throw CommandFailure(
                    "cannot use the database at \(Self.redacted(url)): \(error.message)" + (schemaMissing ? " (is schema.sql applied there?)" : ""))
            }
            try await body(client)
        }
    }

    /// The URL without its password, for messages.
    static func redacted(_ url: String) -> String {
        if var components = URLComponents(string: url), components.scheme?.hasPrefix("postgres") == true {
            if components.password != nil { components.password = "***" }
            return components.string ?? url
        }
        return url.replacingOccurrences(of: #"password\s*=\s*\S+"#, with: "password=***", options: .regularExpression)
    }
}

/// A failure to report in one line, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension AsyncParsableCommand {
    /// Runs `body` with a connected client, closing it afterwards; operation errors become one
    /// line on stderr and exit status 1. `probe`: the table the command needs (the consumers' by
    /// default; the events' for commands that also run on the users' server of a database per
    /// service, which has no order_service).
    func withDatabase(
        _ options: DatabaseOptions, probe: String = "order_service.consumer_positions", _ body: (PostgresClient) async throws -> Void
    ) async throws {
        do {
            try await options.withConnectedClient(probe: probe, body)
        } catch let error as CommandFailure {
            Self.fail(error.description)
        } catch let error as OperationsError {
            Self.fail(error.message)
        } catch let error as PostgresError {
            Self.fail("the database refused: \(error.message)" + (error.detail.map { " (\($0))" } ?? ""))
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("ecst: \(message)\n".utf8))
        Foundation.exit(1)
    }
}

/// Pretty, sorted JSON on stdout.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
