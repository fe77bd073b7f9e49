import Foundation
import Hummingbird
import HummingbirdTesting
import OrderService
import Postgres
import PostgresTestSupport
import ServiceSupport
import ServiceTestSupport
import Testing

@Suite("order-service: endpoints")
struct OrderEndpointTests {
    @Test func theSeededOrderInTheSeedsShape() async throws {
        try await withOrderWorld { world in
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await withRouter(world) { client in
                try await client.execute(uri: "/order-service/all", method: .get) { response in
                    #expect(response.status == .ok)
                    let orders = try #require(decode([Order].self, response))
                    #expect(
                        orders == [
                            Order(
                                id: "1",
                                user: .init(id: 1, firstname: "Neha", lastname: "Parate", email: "neha.parate@gmail.com"),
                                product: .init(productId: 1, description: "IPad"),
                                price: 300
                            )
                        ])
                    #expect(!String(buffer: response.body).contains(": ") && !String(buffer: response.body).contains(", "))
                    // The id is a string, as the original's Mongo ids were.
                    let raw = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                    #expect(raw?.first?["id"] is String)
                }
                try await client.execute(uri: "/order-service/1", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(decode(Order.self, response)?.price == 300)
                }
                try await client.execute(uri: "/order-service/2", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect(errorBody(response)?.error.status == 404)
                }
                try await client.execute(uri: "/order-service/x1", method: .get) { response in
                    #expect(response.status == .badRequest)
                }
            }
        }
    }

    @Test func anUpdateOfUserOneReachesEveryOneOfItsOrders() async throws {
        try await withOrderWorld { world in
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await withRouter(world) { client in
                for product in [2, 3, 1] {
                    try await client.execute(
                        uri: "/order-service/create", method: .post, headers: jsonHeaders,
                        body: ByteBuffer(string: #"{"userId": 1, "productId": \#(product)}"#)
                    ) { response in
                        #expect(response.status == .created)
                    }
                }
                // The seed's PUT, as user-service would run it.
                try await world.admin.query(
                    "UPDATE user_service.users SET firstname = $2, lastname = $3, email = $4 WHERE id = $1",
                    [1, "Neha", "Parate", "neha.parate-updated@vinsguru.com"]
                )
                try await eventually("all of user 1's orders to follow") {
                    try await world.inconsistentOrders() == 0
                }
                try await client.execute(uri: "/order-service/all", method: .get) { response in
                    let orders = decode([Order].self, response) ?? []
                    #expect(orders.count == 4)
                    #expect(orders.allSatisfy { $0.user.email == "neha.parate-updated@vinsguru.com" && $0.user.firstname == "Neha" })
                    #expect(orders.map(\.price) == [300, 650, 320, 300])
                }
            }
        }
    }

    @Test func createIsBuiltFromTheReplicaAndRefusesUnknownOrDeletedEntities() async throws {
        try await withOrderWorld { world in
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            try await world.admin.query("UPDATE user_service.products SET price = 999 WHERE id = 2")
            try await world.admin.query("DELETE FROM user_service.users WHERE id = 4")
            try await world.waitUntilCaughtUp()
            try await withRouter(world) { client in
                try await client.execute(
                    uri: "/order-service/create", method: .post, headers: jsonHeaders, body: ByteBuffer(string: #"{"userId": 2, "productId": 2}"#)
                ) { response in
                    #expect(response.status == .created)
                    let order = decode(Order.self, response)
                    #expect(order?.id == "2")
                    #expect(order?.price == 999)
                    #expect(order?.user.firstname == "Aravind")
                    #expect(order?.product == Order.Product(productId: 2, description: "IPhone"))
                }
                let refusals: [(String, HTTPResponse.Status, String)] = [
                    (#"{"userId": 99, "productId": 1}"#, .unprocessableContent, "unknown user 99"),
                    (#"{"userId": 1, "productId": 99}"#, .unprocessableContent, "unknown product 99"),
                    (#"{"userId": 4, "productId": 1}"#, .unprocessableContent, "unknown user 4"),
                    (#"{"userId": 1}"#, .badRequest, "missing field 'productId'"),
                    (#"{"userId": "1", "productId": 1}"#, .badRequest, "'userId'"),
                    (#"{"userId": 0, "productId": 1}"#, .badRequest, "positive"),
                    ("nope", .badRequest, "not valid JSON"),
                    ("", .badRequest, "empty"),
                    ("[1, 2]", .badRequest, "must be a JSON object"),
                    (#"{"userId": null, "productId": 1}"#, .badRequest, "'userId' must not be null"),
                    (#"{"userId": 1.5, "productId": 1}"#, .badRequest, "'userId'"),
                    (#"{"userId": 1, "productId": 1e40}"#, .badRequest, "'productId'"),
                    (#"{"userId": 1, "productId": -3}"#, .badRequest, "positive"),
                    (#"{"userId": 1, "productId": 1, "pad": "\#(String(repeating: "x", count: 1 << 20))"}"#, .contentTooLarge, "1 MiB"),
                ]
                for (body, status, message) in refusals {
                    try await client.execute(uri: "/order-service/create", method: .post, headers: jsonHeaders, body: ByteBuffer(string: body)) { response in
                        #expect(response.status == status, "\(body)")
                        #expect(errorBody(response)?.error.message.contains(message) == true, "\(body): \(String(describing: errorBody(response)))")
                    }
                }
            }
            let orders: Int = try await world.admin.scalar("SELECT count(*) FROM order_service.purchase_orders")
            #expect(orders == 2)
        }
    }

    @Test func aDeletedUsersOrdersKeepTheirLastData() async throws {
        try await withOrderWorld { world in
            await world.startConsumer()
            try await world.admin.query("UPDATE user_service.users SET lastname = 'Last' WHERE id = 1")
            try await world.admin.query("DELETE FROM user_service.users WHERE id = 1")
            try await world.waitUntilCaughtUp()
            let doc: String = try await world.admin.scalar("SELECT doc -> 'user' ->> 'lastname' FROM order_service.purchase_orders WHERE id = 1")
            #expect(doc == "Last")
            let deleted: Bool = try await world.admin.scalar("SELECT deleted FROM order_service.users WHERE id = 1")
            #expect(deleted)
        }
    }

    @Test func consumerEndpointReportsPositionHeadAndLag() async throws {
        try await withOrderWorld { world in
            try await withRouter(world) { client in
                try await client.execute(uri: "/order-service/consumer", method: .get) { response in
                    #expect(response.status == .notFound)
                }
                let consumer = await world.startConsumer()
                try await world.waitUntilCaughtUp()
                try await client.execute(uri: "/order-service/consumer", method: .get) { response in
                    #expect(response.status == .ok)
                    let status = decode(ConsumerStatus.self, response)
                    #expect(status?.lag == 0)
                    #expect(status?.head == 7)
                    #expect(status?.position == 7)
                    // Keys in one order from every process (sorted), not Foundation's per-process hash order.
                    let text = String(buffer: response.body)
                    let keys = ["applied_by", "applied_events", "consumer", "dead_letters", "head", "lag", "last_applied_at", "position", "snapshot"]
                    let offsets = keys.compactMap { text.range(of: "\"\($0)\":")?.lowerBound }
                    #expect(offsets.count == keys.count && offsets == offsets.sorted(), "\(text)")
                }
                await consumer.stop()
                try await world.admin.query("UPDATE user_service.users SET lastname = lastname || 'x'")
                try await client.execute(uri: "/order-service/consumer", method: .get) { response in
                    let status = decode(ConsumerStatus.self, response)
                    #expect(status?.lag == 4)
                    #expect(status?.head == 11)
                    #expect(status?.position == 7)
                }
            }
        }
    }
}
