import Foundation

/// A Swift value that can be read from a column in text format. Decoding checks the column's type
/// first, so reading an `Int` from a `text` column is an error rather than a guess.
public protocol PostgresDecodable: Sendable {
    static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Self
}

extension PostgresDecodable {
    static func requireValue(_ text: String?) throws(PostgresError) -> String {
        guard let text else { throw PostgresError(code: .decoding, message: "unexpected NULL for \(Self.self)") }
        return text
    }

    static func requireType(_ typeOID: UInt32, in accepted: [UInt32], swiftType: String) throws(PostgresError) {
        guard accepted.contains(typeOID) else {
            throw PostgresError(code: .decoding, message: "cannot decode type OID \(typeOID) as \(swiftType)")
        }
    }

    static func parse<T>(_ text: String, _ parser: (String) -> T?) throws(PostgresError) -> T {
        guard let value = parser(text) else {
            throw PostgresError(code: .decoding, message: "invalid \(Self.self) text: \(text.prefix(40))")
        }
        return value
    }
}

private let integerTypes = [PostgresType.int2, PostgresType.int4, PostgresType.int8, PostgresType.oid, PostgresType.xid8]

extension Int: PostgresDecodable {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Int {
        try requireType(typeOID, in: integerTypes, swiftType: "Int")
        return try parse(try requireValue(text)) { Int($0) }
    }
}

extension Int64: PostgresDecodable {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Int64 {
        try requireType(typeOID, in: integerTypes, swiftType: "Int64")
        return try parse(try requireValue(text)) { Int64($0) }
    }
}

extension Int32: PostgresDecodable {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Int32 {
        try requireType(typeOID, in: integerTypes, swiftType: "Int32")
        return try parse(try requireValue(text)) { Int32($0) }
    }
}

extension Double: PostgresDecodable {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Double {
        try requireType(
            typeOID,
            in: [PostgresType.float4, PostgresType.float8, PostgresType.numeric] + integerTypes,
            swiftType: "Double"
        )
        return try parse(try requireValue(text)) { text in
            switch text {
            case "NaN": return Double.nan
            case "Infinity": return Double.infinity
            case "-Infinity": return -Double.infinity
            default: return Double(text)
            }
        }
    }
}

extension Bool: PostgresDecodable {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Bool {
        try requireType(typeOID, in: [PostgresType.bool], swiftType: "Bool")
        return try parse(try requireValue(text)) { $0 == "t" ? true : $0 == "f" ? false : nil }
    }
}

extension String: PostgresDecodable {
    /// Any column reads as its text form (text, varchar, json, numbers, ...).
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> String {
        try requireValue(text)
    }
}

extension Date: PostgresDecodable {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Date {
        try requireType(typeOID, in: [PostgresType.timestamptz, PostgresType.timestamp, PostgresType.date], swiftType: "Date")
        return try parse(try requireValue(text)) { PostgresTimestamp.parse($0) }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> Wrapped? {
        guard let text else { return nil }
        return try Wrapped.decode(text: text, typeOID: typeOID)
    }
}
