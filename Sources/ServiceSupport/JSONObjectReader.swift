/// The top-level fields of a JSON object, the shape of every request body of both services, read
/// by hand rather than through Foundation's Codable decoder (docs/design.md#json-by-hand). The
/// whole text is checked against RFC 8259 (nested values too, to a depth of 512, as Foundation
/// does); the accessors refuse a missing, null or mistyped field with the 400 that names it.
public struct JSONObjectReader {
    /// A field's value; nested objects and arrays are checked, not kept.
    public enum Value: Equatable {
        case string(String)
        /// A number that is an exact integer within 64 bits (`1`, `-2`, `1.0`, `1e3`).
        case integer(Int64)
        /// Any other number: fractional, or beyond 64 bits.
        case number
        case bool(Bool)
        case null
        case nested
    }

    public private(set) var fields: [String: Value] = [:]

    public static let notJSON = APIError.badRequest("the request body is not valid JSON")
    public static let notAnObject = APIError.badRequest("the request body must be a JSON object")

    /// Reads `bytes` (UTF-8, already validated), which must hold one JSON object and nothing else.
    public init(_ bytes: [UInt8]) throws(APIError) {
        var scanner = Scanner(bytes: bytes)
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "{") else {
            // Valid JSON of another kind is "not an object"; anything else is not JSON.
            _ = try scanner.value(depth: 0)
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw Self.notJSON }
            throw Self.notAnObject
        }
        var fields: [String: Value] = [:]
        try scanner.container(depth: 0) { key, value in fields[key] = value }
        self.fields = fields
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw Self.notJSON }
    }

    /// A required string field.
    public func string(_ key: String) throws(APIError) -> String {
        switch try present(key) {
        case .string(let value): return value
        default: throw APIError.badRequest("field '\(key)' must be a string")
        }
    }

    /// A required integer field (64 bits).
    public func integer(_ key: String) throws(APIError) -> Int64 {
        switch try present(key) {
        case .integer(let value): return value
        case .number: throw APIError.badRequest("field '\(key)' must be an integer within range")
        default: throw APIError.badRequest("field '\(key)' must be an integer")
        }
    }

    private func present(_ key: String) throws(APIError) -> Value {
        guard let value = fields[key] else { throw APIError.badRequest("missing field '\(key)'") }
        if value == .null { throw APIError.badRequest("field '\(key)' must not be null") }
        return value
    }
}

extension JSONObjectReader {
    /// RFC 8259's grammar over the bytes, one value at a time.
    fileprivate struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }
        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(APIError) {
            guard peek == byte else { throw JSONObjectReader.notJSON }
            index += 1
        }

        mutating func literal(_ text: StaticString) throws(APIError) {
            for byte in UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount) { try expect(byte) }
        }

        mutating func value(depth: Int) throws(APIError) -> Value {
            guard depth <= 512 else { throw JSONObjectReader.notJSON }
            skipWhitespace()
            guard let byte = peek else { throw JSONObjectReader.notJSON }
            switch byte {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                try container(depth: depth)
                return .nested
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return try number()
            default:
                throw JSONObjectReader.notJSON
            }
        }

        /// An object or an array, checked; an object's fields (key and value) go to `field`.
        mutating func container(depth: Int, field: (String, Value) -> Void = { _, _ in }) throws(APIError) {
            let isObject = peek == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            index += 1
            skipWhitespace()
            if peek == close {
                index += 1
                return
            }
            while true {
                var key: String?
                if isObject {
                    skipWhitespace()
                    key = try string()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                }
                let element = try value(depth: depth + 1)
                if let key { field(key, element) }
                skipWhitespace()
                if peek == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(close)
                return
            }
        }

        mutating func number() throws(APIError) -> Value {
            let start = index
            if peek == UInt8(ascii: "-") { index += 1 }
            if peek == UInt8(ascii: "0") {
                index += 1
            } else {
                guard try digits() > 0 else { throw JSONObjectReader.notJSON }
            }
            var plainInteger = true
            if peek == UInt8(ascii: ".") {
                index += 1
                guard try digits() > 0 else { throw JSONObjectReader.notJSON }
                plainInteger = false
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard try digits() > 0 else { throw JSONObjectReader.notJSON }
                plainInteger = false
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if plainInteger { return Int64(text).map(Value.integer) ?? .number }
            // 1.0 and 1e3 are integers too, where a Double holds them exactly.
            guard let double = Double(text), double.rounded() == double, abs(double) <= 9_007_199_254_740_992 else { return .number }
            return .integer(Int64(double))
        }

        /// How many decimal digits were skipped.
        mutating func digits() throws(APIError) -> Int {
            let start = index
            while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
            return index - start
        }

        mutating func string() throws(APIError) -> String {
            try expect(UInt8(ascii: "\""))
            let start = index
            // The common case, no escapes: one copy of the bytes as they are.
            while let byte = peek, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                guard byte >= 0x20 else { throw JSONObjectReader.notJSON }
                index += 1
            }
            var scalars = String.UnicodeScalarView()
            let plain = String(decoding: bytes[start..<index], as: UTF8.self)
            if peek == UInt8(ascii: "\"") {
                index += 1
                return plain
            }
            scalars.append(contentsOf: plain.unicodeScalars)
            var run = index
            while true {
                guard let byte = peek else { throw JSONObjectReader.notJSON }
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    scalars.append(contentsOf: String(decoding: bytes[run..<index], as: UTF8.self).unicodeScalars)
                    index += 1
                    if byte == UInt8(ascii: "\"") { return String(scalars) }
                    scalars.append(try escape())
                    run = index
                } else {
                    guard byte >= 0x20 else { throw JSONObjectReader.notJSON }
                    index += 1
                }
            }
        }

        /// The character after a backslash.
        mutating func escape() throws(APIError) -> Unicode.Scalar {
            guard let byte = peek else { throw JSONObjectReader.notJSON }
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return "\""
            case UInt8(ascii: "\\"): return "\\"
            case UInt8(ascii: "/"): return "/"
            case UInt8(ascii: "b"): return "\u{08}"
            case UInt8(ascii: "f"): return "\u{0C}"
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "r"): return "\r"
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "u"):
                let unit = try hex4()
                if (0xD800..<0xDC00).contains(unit) {
                    // A high surrogate must be followed by an escaped low one.
                    try literal("\\u")
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw JSONObjectReader.notJSON }
                    let value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    guard let scalar = Unicode.Scalar(value) else { throw JSONObjectReader.notJSON }
                    return scalar
                }
                guard let scalar = Unicode.Scalar(UInt32(unit)) else { throw JSONObjectReader.notJSON }
                return scalar
            default:
                throw JSONObjectReader.notJSON
            }
        }

        mutating func hex4() throws(APIError) -> UInt16 {
            var value: UInt16 = 0
            for _ in 0..<4 {
                guard let byte = peek else { throw JSONObjectReader.notJSON }
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw JSONObjectReader.notJSON
                }
                value = value << 4 | UInt16(digit)
                index += 1
            }
            return value
        }
    }
}
