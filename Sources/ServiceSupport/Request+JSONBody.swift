import Foundation
import Hummingbird

extension Request {
    /// Decodes a JSON body, with a 400 that names the offending field when it does not fit, and
    /// the context's size cap (413).
    public mutating func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        let buffer = try await collectBody(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("the request body is empty; expected a JSON object") }
        let data = Data(buffer: buffer)
        guard String(validating: data, as: UTF8.self) != nil else {
            throw APIError.badRequest("the request body is not valid UTF-8")
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty, let field = Self.nonIntegerNumber(in: data) {
                // Foundation calls a fractional or out-of-range integer "not valid JSON".
                throw APIError.badRequest("field '\(field)' must be an integer within range")
            }
            throw APIError.badRequest(Self.describe(error))
        }
    }

    /// The first top-level field holding a number that is valid JSON but no 64-bit integer, if the
    /// body parses at all.
    static func nonIntegerNumber(in data: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard let number = value as? NSNumber, !(value is Bool) else { continue }
            let double = number.doubleValue
            if double.rounded() != double || abs(double) >= 9.2e18 { return key }
        }
        return nil
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context, _ key: CodingKey? = nil) -> String {
            let keys = context.codingPath + (key.map { [$0] } ?? [])
            return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context, key))'"
        case .valueNotFound(_, let context):
            return "field '\(path(context))' must not be null"
        case .typeMismatch(let type, let context):
            return context.codingPath.isEmpty
                ? "the request body must be a JSON object"
                : "field '\(path(context))' must be \(Self.describe(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the request body is not valid JSON" }
            return "field '\(path(context))' is invalid: \(context.debugDescription)"
        @unknown default:
            return "the request body is invalid"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "a boolean"
        default: return "of type \(type)"
        }
    }
}
