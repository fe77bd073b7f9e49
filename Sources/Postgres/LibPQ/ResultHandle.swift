import CLibPQ

/// Owns one `PGresult`, freed in `deinit`. Rows are copied out into Swift values at once, so no
/// pointer into the result outlives this handle.
final class ResultHandle {
    private let result: OpaquePointer?

    init(_ result: OpaquePointer?) {
        self.result = result
    }

    deinit {
        if let result { PQclear(result) }
    }

    /// The rows of a successful result, or the server's error as a typed `PostgresError`.
    func rows(connection: ConnectionHandle) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(code: connection.isHealthy ? .server : .connectionLost, message: connection.lastErrorMessage)
        }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            return copyRows(result)
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], rows: [], affectedRows: affectedRows(result))
        default:
            throw error(result, connection: connection)
        }
    }

    private func affectedRows(_ result: OpaquePointer) -> Int {
        Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    private func copyRows(_ result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let fieldCount = Int(PQnfields(result))
        var columns: [PostgresColumn] = []
        columns.reserveCapacity(fieldCount)
        for field in 0..<fieldCount {
            let f = Int32(field)
            columns.append(PostgresColumn(name: String(cString: PQfname(result, f)), typeOID: UInt32(PQftype(result, f))))
        }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            let r = Int32(row)
            var values: [String?] = []
            values.reserveCapacity(fieldCount)
            for field in 0..<fieldCount {
                let f = Int32(field)
                if PQgetisnull(result, r, f) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, r, f)))
                }
            }
            rows.append(values)
        }
        return PostgresRows(columns: columns, rows: rows, affectedRows: affectedRows(result))
    }

    private func error(_ result: OpaquePointer, connection: ConnectionHandle) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            guard let value = PQresultErrorField(result, Int32(code)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field(UInt8(ascii: "C"))
        var message = field(UInt8(ascii: "M")) ?? ConnectionHandle.trimmed(PQresultErrorMessage(result))
        if message.isEmpty { message = connection.lastErrorMessage }
        let lost = !connection.isHealthy
        return PostgresError(
            code: lost ? .connectionLost : .server,
            sqlState: sqlState,
            message: message,
            detail: field(UInt8(ascii: "D")),
            hint: field(UInt8(ascii: "H"))
        )
    }
}
