import OrderService
import Postgres
import ServiceSupport
import Testing
import UserService

@Suite("Each service's routes and its OpenAPI document")
struct OpenAPIParityTests {
    /// A service's routes (from a router on a client that never connects) and its document.
    struct Service: Sendable, CustomTestStringConvertible {
        var name: String
        var routes: @Sendable (PostgresClient) -> Set<String>
        var document: [UInt8]
        /// One route that must be among both, so an empty inventory cannot pass.
        var known: String
        var testDescription: String { name }
    }

    static let services = [
        Service(
            name: "user-service", routes: { RouteInventory.routes(of: buildUserServiceRouter(database: $0)) },
            document: userServiceOpenAPIDocument, known: "GET /user-service/{id}"),
        Service(
            name: "order-service", routes: { RouteInventory.routes(of: buildOrderServiceRouter(database: $0)) },
            document: orderServiceOpenAPIDocument, known: "POST /order-service/create"),
    ]

    @Test("every route is documented and every documented operation is routed", arguments: services)
    func parity(_ service: Service) async throws {
        try await PostgresClient.withClient(configuration: .init(connectionString: "postgresql://127.0.0.1:1/none")) { database in
            let routed = service.routes(database)
            let documented = try RouteInventory.operations(inOpenAPIDocument: service.document)
            #expect(routed.subtracting(documented).isEmpty, "routed but not documented")
            #expect(documented.subtracting(routed).isEmpty, "documented but not routed")
            #expect(routed.contains(service.known))
        }
    }
}
