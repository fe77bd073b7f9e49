import Logging
import Postgres

extension PostgresError {
    /// Logged beside an error whose statement names what the database does not have
    /// (`isMissingDefinition`): the services' statements are written for their build's schema.sql,
    /// and the usual cause is a database that was not given it (docs/operations.md#docker-compose).
    static let schemaMismatchCause = "the database's schema is not this build's: apply this build's schema.sql"

    /// The log metadata of an error, with the cause above when it applies.
    public var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["error": "\(self)"]
        if isMissingDefinition { metadata["cause"] = "\(Self.schemaMismatchCause)" }
        return metadata
    }
}
