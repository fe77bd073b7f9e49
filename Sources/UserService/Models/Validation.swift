import ServiceSupport

/// The input rules, which match the columns of `schema.sql`: a request that breaks one is refused
/// before anything is written.
enum Validation {
    /// A required, non-blank text of at most `maxLength` characters, without NUL.
    static func text(_ value: String, field: String, maxLength: Int) throws -> String {
        if value.unicodeScalars.contains("\u{0}") {
            throw APIError.badRequest("field '\(field)' must not contain NUL characters")
        }
        // Unicode's White_Space property, the set the OpenAPI document's pattern spells out.
        if value.unicodeScalars.allSatisfy(\.properties.isWhitespace) {
            throw APIError.badRequest("field '\(field)' must not be empty")
        }
        // PostgreSQL's varchar(n) counts characters as code points.
        let length = value.unicodeScalars.count
        if length > maxLength {
            throw APIError.badRequest("field '\(field)' must be at most \(maxLength) characters, got \(length)")
        }
        return value
    }

    /// A plausible address: one '@', a non-empty local part, a domain of two or more non-empty
    /// labels, no whitespace or control characters (the OpenAPI document's pattern, exactly).
    static func email(_ value: String, field: String = "email") throws -> String {
        let email = try text(value, field: field, maxLength: 254)
        let scalars = email.unicodeScalars
        let parts = scalars.split(separator: "@", omittingEmptySubsequences: false)
        let labels = parts.count == 2 ? parts[1].split(separator: ".", omittingEmptySubsequences: false) : []
        let plausible =
            parts.count == 2 && !parts[0].isEmpty && labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
            && !scalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || ($0.value > 0x7F && $0.properties.isWhitespace) })
        guard plausible else { throw APIError.badRequest("field '\(field)' must be a valid email address") }
        return email
    }

    /// An id: a positive integer.
    static func id(_ value: Int64, field: String = "id") throws -> Int64 {
        guard value > 0 else { throw APIError.badRequest("field '\(field)' must be a positive integer") }
        return value
    }

    /// A non-negative integer that fits the `integer` column.
    static func count(_ value: Int, field: String) throws -> Int {
        guard value >= 0, value <= Int(Int32.max) else {
            throw APIError.badRequest("field '\(field)' must be an integer from 0 to \(Int32.max)")
        }
        return value
    }
}
