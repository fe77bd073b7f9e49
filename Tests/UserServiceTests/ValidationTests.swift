import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresTestSupport
import ServiceSupport
import ServiceTestSupport
import Testing

@Suite("user-service: refused requests write nothing")
struct ValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var method: HTTPRequest.Method
        var uri: String
        var body: String
        var status: HTTPResponse.Status
        var message: String

        var testDescription: String { name }
    }

    static let long46 = String(repeating: "a", count: 46)
    static let cases: [Case] = [
        Case(name: "malformed JSON", method: .put, uri: "/user-service/update", body: #"{"id": 1,"#, status: .badRequest, message: "not valid JSON"),
        Case(name: "not an object", method: .post, uri: "/user-service/create", body: "[1, 2]", status: .badRequest, message: "must be a JSON object"),
        Case(name: "empty body", method: .post, uri: "/user-service/create", body: "", status: .badRequest, message: "empty"),
        Case(
            name: "missing field", method: .post, uri: "/user-service/create", body: #"{"firstname": "A", "lastname": "B"}"#, status: .badRequest,
            message: "missing field 'email'"),
        Case(
            name: "wrong type", method: .put, uri: "/user-service/update", body: #"{"id": "1", "firstname": "A", "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "field 'id' must be an integer"),
        Case(
            name: "null field", method: .put, uri: "/user-service/update", body: #"{"id": 1, "firstname": null, "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "'firstname'"),
        Case(
            name: "fractional id", method: .put, uri: "/user-service/update", body: #"{"id": 1.5, "firstname": "A", "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "'id'"),
        Case(
            name: "id out of range", method: .put, uri: "/user-service/update", body: #"{"id": 1e40, "firstname": "A", "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "'id'"),
        Case(
            name: "negative id", method: .put, uri: "/user-service/update", body: #"{"id": -1, "firstname": "A", "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "positive"),
        Case(
            name: "empty firstname", method: .put, uri: "/user-service/update", body: #"{"id": 1, "firstname": "", "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "'firstname' must not be empty"),
        Case(
            name: "blank lastname", method: .post, uri: "/user-service/create", body: #"{"firstname": "A", "lastname": "   ", "email": "a@b.co"}"#,
            status: .badRequest, message: "'lastname' must not be empty"),
        Case(
            name: "overlong firstname", method: .post, uri: "/user-service/create", body: #"{"firstname": "\#(long46)", "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "at most 45"),
        Case(
            name: "NUL in name", method: .post, uri: "/user-service/create", body: #"{"firstname": "A\u0000B", "lastname": "B", "email": "a@b.co"}"#,
            status: .badRequest, message: "NUL"),
        Case(
            name: "email without @", method: .post, uri: "/user-service/create", body: #"{"firstname": "A", "lastname": "B", "email": "ab.co"}"#,
            status: .badRequest, message: "valid email"),
        Case(
            name: "email without domain dot", method: .post, uri: "/user-service/create", body: #"{"firstname": "A", "lastname": "B", "email": "a@b"}"#,
            status: .badRequest, message: "valid email"),
        Case(
            name: "email with space", method: .post, uri: "/user-service/create", body: #"{"firstname": "A", "lastname": "B", "email": "a b@c.de"}"#,
            status: .badRequest, message: "valid email"),
        Case(
            name: "overlong email", method: .post, uri: "/user-service/create",
            body: #"{"firstname": "A", "lastname": "B", "email": "\#(String(repeating: "x", count: 250))@b.co"}"#, status: .badRequest, message: "at most 254"),
        Case(
            name: "product: negative price", method: .put, uri: "/user-service/products/update",
            body: #"{"id": 1, "description": "IPad", "price": -1, "qty_available": 1}"#, status: .badRequest, message: "'price'"),
        Case(
            name: "product: quantity too large", method: .put, uri: "/user-service/products/update",
            body: #"{"id": 1, "description": "IPad", "price": 1, "qty_available": 3000000000}"#, status: .badRequest, message: "'qty_available'"),
        Case(
            name: "product: empty description", method: .put, uri: "/user-service/products/update",
            body: #"{"id": 1, "description": "", "price": 1, "qty_available": 1}"#, status: .badRequest, message: "'description' must not be empty"),
        Case(
            name: "product: missing quantity", method: .put, uri: "/user-service/products/update", body: #"{"id": 1, "description": "X", "price": 1}"#,
            status: .badRequest, message: "missing field 'qty_available'"),
        Case(
            name: "product: unknown id", method: .put, uri: "/user-service/products/update",
            body: #"{"id": 77, "description": "X", "price": 1, "qty_available": 1}"#, status: .notFound, message: "no product with id 77"),
        Case(name: "non-numeric id in path", method: .get, uri: "/user-service/abc", body: "", status: .badRequest, message: "positive integer, got 'abc'"),
        Case(name: "zero id in path", method: .get, uri: "/user-service/0", body: "", status: .badRequest, message: "positive integer"),
        Case(
            name: "id in path beyond 64 bits", method: .get, uri: "/user-service/9223372036854775808", body: "", status: .badRequest,
            message: "positive integer"),
        Case(
            name: "name of Unicode spaces only", method: .post, uri: "/user-service/create",
            body: #"{"firstname": "\u00a0\u3000", "lastname": "B", "email": "a@b.co"}"#, status: .badRequest, message: "'firstname' must not be empty"),
        Case(
            name: "control character in email", method: .post, uri: "/user-service/create",
            body: #"{"firstname": "A", "lastname": "B", "email": "a\u0007@b.co"}"#, status: .badRequest, message: "valid email"),
        Case(
            name: "email with an empty domain label", method: .post, uri: "/user-service/create",
            body: #"{"firstname": "A", "lastname": "B", "email": "a@b..co"}"#, status: .badRequest, message: "valid email"),
        Case(
            name: "two @ in email", method: .post, uri: "/user-service/create", body: #"{"firstname": "A", "lastname": "B", "email": "a@b@c.co"}"#,
            status: .badRequest, message: "valid email"),
        Case(name: "wrong method", method: .delete, uri: "/user-service/1", body: "", status: .methodNotAllowed, message: "use GET, HEAD"),
        Case(name: "unknown route", method: .get, uri: "/user-service/1/nothing", body: "", status: .notFound, message: "no route"),
    ]

    @Test(arguments: cases)
    func refused(_ c: Case) async throws {
        try await withUserService { client, admin in
            let before = try await Snapshot.take(admin)
            try await client.execute(uri: c.uri, method: c.method, headers: jsonHeaders, body: json(c.body)) { response in
                #expect(response.status == c.status)
                let body = errorBody(response)
                #expect(body?.error.status == Int(c.status.code))
                #expect(body?.error.message.contains(c.message) == true, "message was: \(String(describing: body))")
            }
            #expect(try await Snapshot.take(admin) == before)
        }
    }

    @Test func invalidUTF8IsRefused() async throws {
        try await withUserService { client, admin in
            let before = try await Snapshot.take(admin)
            var body = ByteBuffer(string: #"{"firstname": "A"#)
            body.writeBytes([0xC3, 0x28])
            body.writeString(#"", "lastname": "B", "email": "a@b.co"}"#)
            try await client.execute(uri: "/user-service/create", method: .post, headers: jsonHeaders, body: body) { response in
                #expect(response.status == .badRequest)
            }
            #expect(try await Snapshot.take(admin) == before)
        }
    }

    @Test func aBodyOverOneMebibyteIs413() async throws {
        try await withUserService { client, admin in
            let before = try await Snapshot.take(admin)
            let padding = String(repeating: "x", count: 1 << 20)
            let body = #"{"firstname": "\#(padding)", "lastname": "B", "email": "a@b.co"}"#
            try await client.execute(uri: "/user-service/create", method: .post, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(errorBody(response)?.error.status == 413)
            }
            #expect(try await Snapshot.take(admin) == before)
        }
    }

    @Test func textThatLooksLikeSQLOrMarkupIsStoredLiterally() async throws {
        try await withUserService { client, admin in
            let body = #"{"firstname": "Robert'); DROP TABLE users;--", "lastname": "<script>x</script>", "email": "a+b@c.de"}"#
            try await client.execute(uri: "/user-service/create", method: .post, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .created)
            }
            let stored: String = try await admin.scalar("SELECT firstname || '|' || lastname FROM user_service.users WHERE id = 5")
            #expect(stored == "Robert'); DROP TABLE users;--|<script>x</script>")
        }
    }
}
