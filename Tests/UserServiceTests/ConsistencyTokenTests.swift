import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import PostgresTestSupport
import ServiceSupport
import ServiceTestSupport
import Testing
import UserService

/// Every write answers with `ECST-Token`, naming the transaction its event carries
/// (docs/design.md#read-your-writes); refused requests carry none.
@Suite("user-service: every write answers with its consistency token")
struct ConsistencyTokenTests {
    func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// The transaction id of the newest event of an entity, as text.
    func eventTransaction(_ admin: PostgresClient, _ type: String, _ id: Int) async throws -> String {
        try await admin.scalar(
            "SELECT xid::text FROM user_service.events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY version DESC LIMIT 1", [type, id])
    }

    @Test func createUpdateAndProductUpdateNameTheirEventsTransaction() async throws {
        try await withUserService { client, admin in
            let writes: [(HTTPRequest.Method, String, String, String, Int)] = [
                (.post, "/user-service/create", #"{"firstname": "T", "lastname": "K", "email": "t@example.com"}"#, "user", 5),
                (.put, "/user-service/update", #"{"id": 2, "firstname": "A", "lastname": "D", "email": "a@example.com"}"#, "user", 2),
                (.put, "/user-service/products/update", #"{"id": 3, "description": "TV", "price": 1, "qty_available": 2}"#, "product", 3),
            ]
            var tokens: Set<String> = []
            for (method, uri, body, type, id) in writes {
                let token = try await client.execute(uri: uri, method: method, headers: jsonHeaders, body: json(body)) { response in
                    #expect(response.status.code < 300, "\(uri)")
                    return response.headers[.ecstToken]
                }
                #expect(token != nil, "\(uri)")
                #expect(token == (try await eventTransaction(admin, type, id)), "\(uri)")
                tokens.insert(token ?? "")
            }
            #expect(tokens.count == writes.count)
        }
    }

    @Test func aWriteThatChangesNothingStillAnswersWithAToken() async throws {
        try await withUserService { client, _ in
            let body = #"{"id": 2, "firstname": "Aravind", "lastname": "Dekate", "email": "aravind.dekate@gmail.com"}"#
            try await client.execute(uri: "/user-service/update", method: .put, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.ecstToken]?.allSatisfy(\.isNumber) == true)
            }
        }
    }

    @Test func refusedWritesAndReadsCarryNoToken() async throws {
        try await withUserService { client, _ in
            let missing = #"{"id": 99, "firstname": "A", "lastname": "D", "email": "a@example.com"}"#
            try await client.execute(uri: "/user-service/update", method: .put, headers: jsonHeaders, body: json(missing)) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.ecstToken] == nil)
            }
            try await client.execute(uri: "/user-service/create", method: .post, headers: jsonHeaders, body: json(#"{"firstname": ""}"#)) {
                response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.ecstToken] == nil)
            }
            try await client.execute(uri: "/user-service/1", method: .get) { response in
                #expect(response.headers[.ecstToken] == nil)
            }
        }
    }

    @Test func psqlGetsTheSameTokenFromTheFunction() async throws {
        try await withUserService { _, admin in
            let token: String = try await admin.withTransaction { tx in
                try await tx.query("UPDATE user_service.users SET email = 'psql@example.com' WHERE id = 4")
                return try await tx.scalar("SELECT user_service.transaction_token()")
            }
            #expect(token == (try await eventTransaction(admin, "user", 4)))
        }
    }
}
