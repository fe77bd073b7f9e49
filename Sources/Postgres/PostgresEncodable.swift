import Foundation

/// A Swift value that can be bound as a statement parameter.
public protocol PostgresEncodable: Sendable {
    var postgresParameter: PostgresParameter { get }
}

extension String: PostgresEncodable {
    /// Untyped, so the server reads it as whatever the statement needs (text, varchar, jsonb, ...).
    public var postgresParameter: PostgresParameter { .init(text: self, typeOID: PostgresType.unknown) }
}

extension Int: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(text: String(self), typeOID: PostgresType.int8) }
}

extension Int64: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(text: String(self), typeOID: PostgresType.int8) }
}

extension Int32: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(text: String(self), typeOID: PostgresType.int4) }
}

extension Bool: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(text: self ? "t" : "f", typeOID: PostgresType.bool) }
}

extension Double: PostgresEncodable {
    public var postgresParameter: PostgresParameter {
        let text: String
        if isNaN {
            text = "NaN"
        } else if isInfinite {
            text = self < 0 ? "-Infinity" : "Infinity"
        } else {
            text = "\(self)"  // shortest text that reads back as the same Double
        }
        return .init(text: text, typeOID: PostgresType.float8)
    }
}

extension Date: PostgresEncodable {
    public var postgresParameter: PostgresParameter {
        .init(text: PostgresTimestamp.format(self), typeOID: PostgresType.timestamptz)
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresParameter: PostgresParameter {
        switch self {
        case .some(let value): return value.postgresParameter
        case .none: return .init(text: nil, typeOID: PostgresType.unknown)
        }
    }
}

/// JSON text, sent as `jsonb` and decoded from `json` or `jsonb` columns.
public struct PostgresJSON: PostgresEncodable, PostgresDecodable, Equatable, Sendable {
    public var text: String

    public init(_ text: String) { self.text = text }

    /// Encodes a value with `JSONEncoder`.
    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public func decoded<T: Decodable>(as type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(type, from: Data(text.utf8))
    }

    public var postgresParameter: PostgresParameter { .init(text: text, typeOID: PostgresType.jsonb) }

    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> PostgresJSON {
        try requireType(typeOID, in: [PostgresType.json, PostgresType.jsonb], swiftType: "PostgresJSON")
        return PostgresJSON(try requireValue(text))
    }
}
