import Foundation
import Postgres
import PostgresTestSupport
import Testing

/// The executables (or a running stack: USER_SERVICE_URL, ORDER_SERVICE_URL): a client that carries
/// user-service's ECST-Token to order-service as ECST-After never sees the replica behind its write.
@Suite("end to end: read your writes across the services")
struct ReadYourWritesEndToEndTests {
    struct UserReply: Decodable { var id: Int64 }

    @Test func aThousandNewUsersOrdersAreCreatedOnTheFirstTry() async throws {
        if let external = externalStack {
            try await createUsersAndTheirOrders(users: HTTP(baseURL: external.user), orders: HTTP(baseURL: external.order))
            return
        }
        try await withStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await createUsersAndTheirOrders(users: users.http, orders: orders.http)
        }
    }

    func createUsersAndTheirOrders(users: HTTP, orders: HTTP, count: Int = 1_000) async throws {
        for n in 0..<count {
            let created = try await users.post(
                "/user-service/create", #"{"firstname": "Rywt", "lastname": "N\#(n)", "email": "ryw-\#(n)-\#(UInt32.random(in: 0...UInt32.max))@example.com"}"#)
            try #require(created.status == 201, "user \(n): \(created.body)")
            let token = try #require(created.headers["ecst-token"], "user \(n) came without ECST-Token")
            let id = try created.json(UserReply.self).id
            let order = try await orders.request(
                .POST, "/order-service/create", body: #"{"userId": \#(id), "productId": 2}"#, headers: ["ECST-After": token])
            try #require(order.status == 201, "order \(n), user \(id), after \(token): \(order.status) \(order.body)")
            #expect(try order.json(OrderReply.self).user.lastname == "N\(n)")
        }
    }
}
