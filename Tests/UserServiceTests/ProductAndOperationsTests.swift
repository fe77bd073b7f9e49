import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import PostgresTestSupport
import ServiceSupport
import ServiceTestSupport
import Testing
import UserService

@Suite("user-service: products, health, metrics")
struct ProductAndOperationsTests {
    @Test func listsAndUpdatesProducts() async throws {
        try await withUserService { client, admin in
            try await client.execute(uri: "/user-service/products", method: .get) { response in
                #expect(response.status == .ok)
                let products = try #require(decode([Product].self, response))
                #expect(
                    products == [
                        Product(id: 1, description: "IPad", price: 300, qtyAvailable: 10),
                        Product(id: 2, description: "IPhone", price: 650, qtyAvailable: 50),
                        Product(id: 3, description: "Sony TV", price: 320, qtyAvailable: 100),
                    ])
            }
            let body = #"{"id": 2, "description": "IPhone 15", "price": 700, "qty_available": 49}"#
            try await client.execute(uri: "/user-service/products/update", method: .put, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .ok)
                #expect(decode(Product.self, response) == Product(id: 2, description: "IPhone 15", price: 700, qtyAvailable: 49))
            }
            let event = try await admin.query(
                "SELECT type, version, payload->>'price' FROM user_service.events WHERE aggregate_type = 'product' AND aggregate_id = 2 ORDER BY id DESC LIMIT 1"
            )
            #expect(try event[0].decode(0, as: String.self) == "ProductUpdated")
            #expect(try event[0].decode(1, as: Int.self) == 2)
            #expect(try event[0].decode(2, as: String.self) == "700")
        }
    }

    @Test func healthAndMetrics() async throws {
        try await withUserService { client, _ in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            }
        }
    }

    @Test func anUnreachableDatabaseGives503WithAJSONBody() async throws {
        let database = PostgresClient(
            configuration: .init(connectionString: "postgresql://user_service@127.0.0.1:1/ecst", connectTimeoutSeconds: 1)
        )
        let app = Application(router: buildUserServiceRouter(database: database))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(errorBody(response)?.error.status == 503)
            }
            try await client.execute(uri: "/user-service", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(errorBody(response)?.error.message.contains("unavailable") == true)
            }
        }
        await database.close()
    }

    @Test func requestIDsAreEchoedOrMade() async throws {
        try await withUserService { client, _ in
            try await client.execute(uri: "/user-service/1", method: .get, headers: [.requestID: "abc-123"]) { response in
                #expect(response.headers[.requestID] == "abc-123")
            }
            try await client.execute(uri: "/user-service/1", method: .get) { response in
                #expect(response.headers[.requestID]?.isEmpty == false)
            }
        }
    }
}

@Suite("user-service: the OpenAPI document")
struct UserOpenAPITests {
    @Test func theDocumentIsServedAndWrongMethodsGet405WithAllow() async throws {
        try await withUserService { client, admin in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let document = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(document?["openapi"] as? String == "3.1.0")
            }
            let before = try await Snapshot.take(admin)
            for (method, uri, allow) in [
                (HTTPRequest.Method.delete, "/user-service/1", "GET, HEAD"),
                (.get, "/user-service/update", "PUT"),
                (.init("QUERY")!, "/user-service/products", "GET, HEAD"),
                (.post, "/user-service/products/update", "PUT"),
            ] {
                try await client.execute(uri: uri, method: method, headers: jsonHeaders, body: json(#"{"id": 1}"#)) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                    #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                    #expect(errorBody(response)?.error.status == 405)
                }
            }
            try await client.execute(uri: "/user-service/1", method: .head) { response in
                #expect(response.status == .ok)
            }
            #expect(try await Snapshot.take(admin) == before)
        }
    }
}
