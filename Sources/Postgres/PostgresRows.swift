/// A column of a result: its name and the server's type OID.
public struct PostgresColumn: Sendable, Equatable {
    public var name: String
    public var typeOID: UInt32
}

/// The rows of one statement, copied out of libpq as text.
public struct PostgresRows: Sendable, Equatable, RandomAccessCollection {
    public let columns: [PostgresColumn]
    private let values: [[String?]]
    /// Rows inserted, updated or deleted (libpq's `PQcmdTuples`), or returned by a SELECT.
    public let affectedRows: Int

    init(columns: [PostgresColumn], rows: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = rows
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { values.count }

    public subscript(position: Int) -> PostgresRow {
        PostgresRow(columns: columns, values: values[position])
    }

    /// The only row, or nil when there is none; more than one is a decoding error.
    public func single() throws(PostgresError) -> PostgresRow? {
        guard count <= 1 else {
            throw PostgresError(code: .decoding, message: "expected at most one row, got \(count)")
        }
        return first
    }
}

/// One row. Decode columns by index or name: `let id: Int = try row.decode(0)`.
public struct PostgresRow: Sendable {
    public let columns: [PostgresColumn]
    let values: [String?]

    public func decode<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard columns.indices.contains(index) else {
            throw PostgresError(code: .decoding, message: "no column at index \(index) (row has \(columns.count))")
        }
        let column = columns[index]
        do {
            return try T.decode(text: values[index], typeOID: column.typeOID)
        } catch {
            throw PostgresError(code: .decoding, message: "column \"\(column.name)\": \(error.message)")
        }
    }

    public func decode<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard let index = columns.firstIndex(where: { $0.name == name }) else {
            throw PostgresError(code: .decoding, message: "no column named \"\(name)\"")
        }
        return try decode(index, as: type)
    }
}
