/// A value bound to a statement parameter: its text form (nil for NULL) and the type the server
/// should read it as (0 lets the server infer it from the statement).
public struct PostgresParameter: Sendable, Equatable {
    public var text: String?
    public var typeOID: UInt32

    public init(text: String?, typeOID: UInt32) {
        self.text = text
        self.typeOID = typeOID
    }

    /// libpq takes NUL-terminated text, so an embedded NUL would silently cut the value short.
    func validated() throws(PostgresError) -> PostgresParameter {
        if let text, text.utf8.contains(0) {
            throw PostgresError(code: .invalidInput, message: "a text parameter contains a NUL character")
        }
        return self
    }
}

/// Well-known type OIDs (see `pg_type`).
public enum PostgresType {
    public static let unknown: UInt32 = 0
    public static let bool: UInt32 = 16
    public static let name: UInt32 = 19
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let oid: UInt32 = 26
    public static let json: UInt32 = 114
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    public static let bpchar: UInt32 = 1042
    public static let varchar: UInt32 = 1043
    public static let date: UInt32 = 1082
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184
    public static let numeric: UInt32 = 1700
    public static let jsonb: UInt32 = 3802
    public static let xid8: UInt32 = 5069
    public static let boolArray: UInt32 = 1000
    public static let int2Array: UInt32 = 1005
    public static let int4Array: UInt32 = 1007
    public static let textArray: UInt32 = 1009
    public static let varcharArray: UInt32 = 1015
    public static let int8Array: UInt32 = 1016
    public static let float8Array: UInt32 = 1022

    /// The element type of a one-dimensional array type this module decodes, or nil.
    static func elementType(ofArray arrayType: UInt32) -> UInt32? {
        switch arrayType {
        case boolArray: return bool
        case int2Array: return int2
        case int4Array: return int4
        case textArray: return text
        case varcharArray: return varchar
        case int8Array: return int8
        case float8Array: return float8
        default: return nil
        }
    }
}
