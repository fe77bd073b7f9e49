/// One-dimensional arrays as parameters and results, in PostgreSQL's text form (`{1,2,3}`,
/// `{"a b",NULL}`). An element type says which array type it travels as.
public protocol PostgresArrayElement: PostgresEncodable, PostgresDecodable {
    /// The OID of the array type whose elements this type is (`int8[]` for `Int64`).
    static var postgresArrayType: UInt32 { get }
}

extension Int64: PostgresArrayElement { public static var postgresArrayType: UInt32 { PostgresType.int8Array } }
extension Int: PostgresArrayElement { public static var postgresArrayType: UInt32 { PostgresType.int8Array } }
extension Int32: PostgresArrayElement { public static var postgresArrayType: UInt32 { PostgresType.int4Array } }
extension String: PostgresArrayElement { public static var postgresArrayType: UInt32 { PostgresType.textArray } }
extension Bool: PostgresArrayElement { public static var postgresArrayType: UInt32 { PostgresType.boolArray } }
extension Double: PostgresArrayElement { public static var postgresArrayType: UInt32 { PostgresType.float8Array } }

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    /// Every element quoted, so text needs no other care than escaping `"` and `\`.
    public var postgresParameter: PostgresParameter {
        let elements = map { element -> String in
            guard let text = element.postgresParameter.text else { return "NULL" }
            var quoted = "\""
            for character in text {
                if character == "\"" || character == "\\" { quoted.append("\\") }
                quoted.append(character)
            }
            return quoted + "\""
        }
        return .init(text: "{" + elements.joined(separator: ",") + "}", typeOID: Element.postgresArrayType)
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public static func decode(text: String?, typeOID: UInt32) throws(PostgresError) -> [Element] {
        guard let elementType = PostgresType.elementType(ofArray: typeOID) else {
            throw PostgresError(code: .decoding, message: "cannot decode type OID \(typeOID) as an array")
        }
        return try PostgresArrayText.elements(of: try requireValue(text)).map { (element) throws(PostgresError) in
            try Element.decode(text: element, typeOID: elementType)
        }
    }
}

/// The array text form's grammar, for one dimension: elements separated by commas, each either
/// bare (`NULL` is the null element) or double-quoted with backslash escapes.
enum PostgresArrayText {
    static func elements(of text: String) throws(PostgresError) -> [String?] {
        var characters = Substring(text)
        // A lower bound other than 1 prefixes the dimensions: `[0:2]={1,2,3}`.
        if characters.first == "[", let equals = characters.firstIndex(of: "=") {
            characters = characters[characters.index(after: equals)...]
        }
        guard characters.first == "{", characters.last == "}" else { throw malformed(text) }
        characters = characters.dropFirst().dropLast()
        if characters.isEmpty { return [] }
        if characters.first == "{" { throw PostgresError(code: .decoding, message: "multi-dimensional arrays are not supported") }

        var elements: [String?] = []
        var index = characters.startIndex
        while true {
            if characters[index] == "\"" {
                var element = ""
                index = characters.index(after: index)
                while index < characters.endIndex, characters[index] != "\"" {
                    if characters[index] == "\\" { index = characters.index(after: index) }
                    guard index < characters.endIndex else { throw malformed(text) }
                    element.append(characters[index])
                    index = characters.index(after: index)
                }
                guard index < characters.endIndex else { throw malformed(text) }
                index = characters.index(after: index)
                elements.append(element)
            } else {
                let end = characters[index...].firstIndex(of: ",") ?? characters.endIndex
                let element = String(characters[index..<end])
                elements.append(element == "NULL" ? nil : element)
                index = end
            }
            if index == characters.endIndex { return elements }
            guard characters[index] == "," else { throw malformed(text) }
            index = characters.index(after: index)
            guard index < characters.endIndex else { throw malformed(text) }
        }
    }

    private static func malformed(_ text: String) -> PostgresError {
        PostgresError(code: .decoding, message: "malformed array text (\(text.count) characters)")
    }
}
