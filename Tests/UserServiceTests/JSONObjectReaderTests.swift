import Foundation
import Hummingbird
import ServiceSupport
import Testing

/// The hand-written JSON reading and writing of request and response bodies, checked against
/// RFC 8259 and against Foundation's reading of the same text.
@Suite("request and response bodies: JSON by hand")
struct JSONObjectReaderTests {
    static func read(_ text: String) -> Result<JSONObjectReader, APIError> {
        Result { () throws(APIError) in try JSONObjectReader(Array(text.utf8)) }
    }

    static func message(_ text: String) -> String? {
        if case .failure(let error) = read(text) { return error.message }
        return nil
    }

    @Test(arguments: [
        "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1} x", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}",
        "{\"a\":1e}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\u{1}\"}", "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":{\"b\"}}", "{'a':1}",
        "{\"a\":NaN}", "{\"a\":1}{}",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(Self.message(text) == "the request body is not valid JSON", "\(text)")
        // Foundation's reader also takes a trailing comma, which RFC 8259 does not.
        if !text.contains(",}") && !text.contains(",]") {
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) == nil, "Foundation reads \(text)")
        }
    }

    @Test(arguments: ["[1, 2]", "\"x\"", "1", "null", " true "])
    func refusesJSONThatIsNoObject(_ text: String) {
        #expect(Self.message(text) == "the request body must be a JSON object")
    }

    @Test func refusesNestingDeeperThanFoundation() {
        let deep = "{\"a\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
        #expect(Self.message(deep) == "the request body is not valid JSON")
        let fine = "{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        #expect(Self.message(fine) == nil)
    }

    @Test func readsStringsWithEscapesAsFoundationDoes() throws {
        let text = #"{"s": "a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00 é €", "t": ""}"#
        let reader = try JSONObjectReader(Array(text.utf8))
        let foundation = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(try reader.string("s") == foundation["s"])
        #expect(try reader.string("t") == "")
    }

    @Test func readsIntegersExactlyAndRefusesOthersByName() throws {
        let text = #"""
            {"a": 0, "b": -9223372036854775808, "c": 9223372036854775807, "d": 1.0, "e": 1e3, "f": 1.5,
             "g": 9223372036854775808, "h": 1e40, "i": "1", "j": true, "k": null, "l": {"x": [1]}}
            """#
        let reader = try JSONObjectReader(Array(text.utf8))
        #expect(try reader.integer("a") == 0)
        #expect(try reader.integer("b") == Int64.min)
        #expect(try reader.integer("c") == Int64.max)
        #expect(try reader.integer("d") == 1)
        #expect(try reader.integer("e") == 1000)
        for key in ["f", "g", "h"] {
            #expect(throws: APIError.self) { try reader.integer(key) }
            #expect(Self.failure { () throws(APIError) in _ = try reader.integer(key) } == "field '\(key)' must be an integer within range")
        }
        #expect(Self.failure { () throws(APIError) in _ = try reader.integer("i") } == "field 'i' must be an integer")
        #expect(Self.failure { () throws(APIError) in _ = try reader.integer("j") } == "field 'j' must be an integer")
        #expect(Self.failure { () throws(APIError) in _ = try reader.integer("k") } == "field 'k' must not be null")
        #expect(Self.failure { () throws(APIError) in _ = try reader.string("l") } == "field 'l' must be a string")
        #expect(Self.failure { () throws(APIError) in _ = try reader.string("missing") } == "missing field 'missing'")
    }

    static func failure(_ body: () throws(APIError) -> Void) -> String? {
        do throws(APIError) {
            try body()
            return nil
        } catch {
            return error.message
        }
    }

    @Test func writesWhatFoundationReadsBack() throws {
        let odd = "q\"b\\s/\n\r\t\u{1}\u{1F}é€😀"
        var writer = JSONObjectWriter()
        writer.field("id", Int64(-42))
        writer.field("name", odd)
        writer.field("n", 7)
        let text = String(buffer: writer.buffer)
        let object = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["id"] as? Int == -42)
        #expect(object["name"] as? String == odd)
        #expect(object["n"] as? Int == 7)
        #expect(text.hasPrefix(#"{"id":-42,"name":"#))
    }

    @Test func writesAnErrorBodyInTheContractsOrder() throws {
        let body = ErrorBody(status: .badRequest, message: #"field 'email' must be "x""#)
        #expect(String(buffer: body.text) == #"{"error":{"status":400,"message":"field 'email' must be \"x\""}}"#)
        #expect(try JSONDecoder().decode(ErrorBody.self, from: Data(String(buffer: body.text).utf8)) == body)
    }
}
