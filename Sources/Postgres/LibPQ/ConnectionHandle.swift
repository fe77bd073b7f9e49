import CLibPQ
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Owns one `PGconn`: the only place a connection pointer lives; `PQfinish` runs in `deinit`.
///
/// The `exec` methods and `init` block (network round trips), so callers run them off the
/// cooperative pool; `start` and `advance` never block (docs/design.md#statements-without-a-hop).
/// `@unchecked Sendable`: libpq connections are not thread-safe, but a handle is only ever used by
/// one thread at a time: the pool lends a connection to one task (and while its statement is in
/// flight, the result thread holds it until the task resumes), and a listener owns its handle on its
/// own thread.
final class ConnectionHandle: @unchecked Sendable {
    private let conn: OpaquePointer
    /// Statements prepared on this session, by SQL text.
    private var prepared: [String: String] = [:]
    /// Whether libpq's non-blocking mode is on (set at the first statement sent without waiting;
    /// the blocking calls ignore it).
    private var nonBlocking = false
    /// The last result read so far of a statement sent without waiting.
    private var pendingResult: ResultHandle?

    /// Connects (blocking). Overrides win over what the connection string says.
    init(configuration: PostgresConfiguration) throws(PostgresError) {
        var entries: [(String, String)] = [("dbname", configuration.connectionString)]
        entries.append(("client_encoding", "UTF8"))
        entries.append(("connect_timeout", String(configuration.connectTimeoutSeconds)))
        for (key, value) in configuration.overrides.sorted(by: { $0.key < $1.key }) {
            entries.append((key, value))
        }
        let conn: OpaquePointer? = Self.withCStringArrays(entries) { keys, values in
            PQconnectdbParams(keys, values, 1)
        }
        guard let conn else {
            throw PostgresError(code: .connectionFailed, message: "out of memory allocating a libpq connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(code: .connectionFailed, message: message)
        }
        self.conn = conn
        // libpq prints server notices (and the FATAL of a terminated idle session) to stderr by
        // default; errors reach callers as typed errors instead.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // Dates are exchanged as ISO text in UTC whatever the server's defaults are.
        _ = try execSimple("SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'")
    }

    deinit {
        PQfinish(conn)
    }

    /// False once libpq has seen the connection fail; such a handle is thrown away, never reused.
    var isHealthy: Bool { PQstatus(conn) == CONNECTION_OK }

    /// Healthy and outside any transaction: the only state in which a session may go back to a pool.
    var isReusable: Bool { isHealthy && PQtransactionStatus(conn) == PQTRANS_IDLE }

    var backendPID: Int32 { PQbackendPID(conn) }

    var socket: Int32 { PQsocket(conn) }

    /// Runs SQL with no parameters, possibly several statements (used for session setup and DDL).
    func execSimple(_ sql: String) throws(PostgresError) -> PostgresRows {
        let result = ResultHandle(PQexec(conn, sql))
        return try result.rows(connection: self)
    }

    /// Runs one statement with its values bound as text parameters.
    func exec(_ sql: String, _ parameters: [PostgresParameter]) throws(PostgresError) -> PostgresRows {
        let result = Self.withParameters(parameters) { types, values in
            ResultHandle(PQexecParams(conn, sql, Int32(parameters.count), types, values, nil, nil, 0))
        }
        return try result.rows(connection: self)
    }

    /// Runs one statement, preparing it the first time this session sees its SQL.
    func execPrepared(_ sql: String, _ parameters: [PostgresParameter]) throws(PostgresError) -> PostgresRows {
        let name: String
        if let existing = prepared[sql] {
            name = existing
        } else {
            name = "ecst_\(prepared.count)"
            let types = parameters.map { Oid($0.typeOID) }
            let result = types.withUnsafeBufferPointer { buffer in
                ResultHandle(PQprepare(conn, name, sql, Int32(types.count), buffer.baseAddress))
            }
            _ = try result.rows(connection: self)
            prepared[sql] = name
        }
        let result = Self.withParameters(parameters) { _, values in
            ResultHandle(PQexecPrepared(conn, name, Int32(parameters.count), values, nil, nil, 0))
        }
        return try result.rows(connection: self)
    }

    /// The name this session prepared `sql` under, if it has.
    func preparedName(for sql: String) -> String? { prepared[sql] }

    /// A statement sent without waiting for its result (`ResultPoller`).
    enum Statement: Sendable {
        /// Several statements allowed, no parameters (`PQsendQuery`).
        case script(String)
        case parameters(String, [PostgresParameter])
        /// A statement this session prepared, by its name (`preparedName(for:)`).
        case prepared(name: String, [PostgresParameter])
    }

    /// Where a statement sent without waiting stands.
    enum Progress {
        /// libpq holds bytes the socket would not take yet: call `advance(flushing: true)` once it
        /// is writable or readable.
        case wantsWrite
        /// Call `advance(flushing: false)` once the socket is readable.
        case wantsRead
        case done(Result<PostgresRows, PostgresError>)
    }

    /// Sends `statement` without blocking. Never blocks: libpq's non-blocking mode queues what the
    /// socket does not take at once.
    func start(_ statement: Statement) -> Progress {
        if !nonBlocking {
            guard PQsetnonblocking(conn, 1) == 0 else { return collect() }
            nonBlocking = true
        }
        let sent: Int32
        switch statement {
        case .script(let sql):
            sent = PQsendQuery(conn, sql)
        case .parameters(let sql, let parameters):
            sent = Self.withParameters(parameters) { types, values in
                PQsendQueryParams(conn, sql, Int32(parameters.count), types, values, nil, nil, 0)
            }
        case .prepared(let name, let parameters):
            sent = Self.withParameters(parameters) { _, values in
                PQsendQueryPrepared(conn, name, Int32(parameters.count), values, nil, nil, 0)
            }
        }
        guard sent == 1 else { return collect() }
        return flush()
    }

    /// Continues a statement sent with `start` once its socket is ready (`flushing`: after
    /// `.wantsWrite`); never blocks.
    func advance(flushing: Bool) -> Progress {
        if flushing {
            // libpq's advice: read what the server sent (it may be waiting for us to), then flush.
            if PQconsumeInput(conn) == 0, !isHealthy { return collect() }
            let progress = flush()
            guard case .wantsRead = progress else { return progress }
        }
        // Trouble reading on a healthy session: wait again; a lost one ends the statement.
        guard PQconsumeInput(conn) == 1 || !isHealthy else { return .wantsRead }
        return collect()
    }

    private func flush() -> Progress {
        switch PQflush(conn) {
        case 0: return .wantsRead
        case 1: return .wantsWrite
        default: return collect()
        }
    }

    /// Takes the results libpq has read, without blocking: `PQgetResult` waits only while
    /// `PQisBusy`, which a lost session never is (it reports its error at once). `.done` with the
    /// statement's outcome (its last result, or the connection's error) once libpq has no more.
    private func collect() -> Progress {
        while PQisBusy(conn) == 0 {
            guard let next = PQgetResult(conn) else { return .done(takeResult()) }
            pendingResult = ResultHandle(next)
        }
        return .wantsRead
    }

    private func takeResult() -> Result<PostgresRows, PostgresError> {
        let result = pendingResult ?? ResultHandle(nil)
        pendingResult = nil
        return Result { () throws(PostgresError) in try result.rows(connection: self) }
    }

    /// Quotes an identifier for the few statements that cannot take parameters (LISTEN).
    func escapeIdentifier(_ identifier: String) throws(PostgresError) -> String {
        let utf8Count = identifier.utf8.count
        guard let escaped = PQescapeIdentifier(conn, identifier, utf8Count) else {
            throw PostgresError(code: .invalidInput, message: Self.trimmed(PQerrorMessage(conn)))
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// Reads whatever the server has sent without blocking; false when the connection is lost.
    func consumeInput() -> Bool {
        PQconsumeInput(conn) == 1 && isHealthy
    }

    /// Notifications already read by libpq, in arrival order.
    func drainNotifications() -> [PostgresNotification] {
        var out: [PostgresNotification] = []
        let received = Date()
        while let notify = PQnotifies(conn) {
            let n = notify.pointee
            out.append(
                PostgresNotification(
                    channel: String(cString: n.relname),
                    payload: String(cString: n.extra),
                    backendPID: n.be_pid,
                    received: received
                )
            )
            PQfreemem(notify)
        }
        return out
    }

    /// An idle pooled session has nothing to say: if its socket is readable, the server is almost
    /// always terminating it (it sends the FATAL message before it closes the socket, so libpq may
    /// still call it healthy). Such a session is not reused; replacing it costs one connect.
    func checkIdleHealth() -> Bool {
        guard isHealthy else { return false }
        switch SocketWaiter.readable(socket, timeoutMilliseconds: 0) {
        case .timeout, .woken: return true
        case .readable, .error: return false
        }
    }

    var lastErrorMessage: String { Self.trimmed(PQerrorMessage(conn)) }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        var text = String(cString: message)
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }

    /// Lends libpq NUL-terminated copies of each value for the duration of one call.
    private static func withParameters<R>(
        _ parameters: [PostgresParameter],
        _ body: (UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?) -> R
    ) -> R {
        let types = parameters.map { Oid($0.typeOID) }
        let values: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.text.flatMap { strdup($0) } }
        defer { for pointer in values { free(pointer) } }
        let constValues = values.map { UnsafePointer($0) }
        return types.withUnsafeBufferPointer { typeBuffer in
            constValues.withUnsafeBufferPointer { valueBuffer in
                body(typeBuffer.baseAddress, valueBuffer.baseAddress)
            }
        }
    }

    private static func withCStringArrays<R>(
        _ entries: [(String, String)],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> R
    ) -> R {
        let keys: [UnsafeMutablePointer<CChar>?] = entries.map { strdup($0.0) } + [nil]
        let values: [UnsafeMutablePointer<CChar>?] = entries.map { strdup($0.1) } + [nil]
        defer {
            for pointer in keys { free(pointer) }
            for pointer in values { free(pointer) }
        }
        let constKeys = keys.map { UnsafePointer($0) }
        let constValues = values.map { UnsafePointer($0) }
        return constKeys.withUnsafeBufferPointer { k in
            constValues.withUnsafeBufferPointer { v in body(k.baseAddress!, v.baseAddress!) }
        }
    }
}
