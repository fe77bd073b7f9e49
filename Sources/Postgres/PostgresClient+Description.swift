extension PostgresClient: CustomStringConvertible {
    /// How ServiceLifecycle names it in its log lines (by its sessions' `application_name`; never
    /// the connection string, which may hold a password). Without it, each start described the
    /// client by reflection.
    public var description: String {
        "PostgresClient(\(configuration.overrides["application_name"] ?? "unnamed"))"
    }
}
