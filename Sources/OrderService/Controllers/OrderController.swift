import Hummingbird
import ServiceSupport

/// `/order-service`: list, read and create purchase orders, and the consumer's position; each
/// after the write named by `ECST-After`, when given.
struct OrderController<Context: RequestContext> {
    let repository: OrderRepository
    let status: ConsumerStatusQuery
    let consumer: String
    let tokens: TokenWatch

    struct CreateRequest: JSONObjectDecodable {
        var userId: Int64
        var productId: Int64

        init(json: JSONObjectReader) throws(APIError) {
            userId = try json.integer("userId")
            productId = try json.integer("productId")
        }
    }

    func addRoutes(to group: RouterGroup<Context>) {
        group.add(middleware: ReadYourWritesMiddleware(watch: tokens))
        group.get("all", use: list)
        group.get("consumer", use: consumerStatus)
        group.get("{id}", use: show)
        group.post("create", use: create)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        .jsonText(try await repository.listJSON())
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else { throw APIError.badRequest("order id must be a positive integer, got '\(text)'") }
        guard let json = try await repository.findJSON(id: id) else { throw APIError.notFound("no order with id \(id)") }
        return .jsonText(json)
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let input = try await request.decodeJSON(as: CreateRequest.self, context: context)
        guard input.userId > 0 else { throw APIError.badRequest("field 'userId' must be a positive integer") }
        guard input.productId > 0 else { throw APIError.badRequest("field 'productId' must be a positive integer") }
        switch try await repository.create(userID: input.userId, productID: input.productId) {
        case .created(let json):
            context.logger.info("order created", metadata: ["user_id": "\(input.userId)", "product_id": "\(input.productId)"])
            return .jsonText(json, status: .created)
        case .unknownUser:
            throw APIError.unprocessable("unknown user \(input.userId)")
        case .unknownProduct:
            throw APIError.unprocessable("unknown product \(input.productId)")
        }
    }

    /// `?token=T` adds whether that token is applied.
    @Sendable func consumerStatus(_ request: Request, context: Context) async throws -> ConsumerStatus {
        let token = try request.uri.queryParameters.get("token").map {
            try ReadYourWritesMiddleware<Context>.token($0, from: "query parameter 'token'")
        }
        guard var status = try await status.status(consumer: consumer) else {
            throw APIError.notFound("consumer '\(consumer)' has not started yet")
        }
        if let token {
            status.token = .init(token: token.text, state: try await tokens.states(of: [token])[token] ?? .pending)
        }
        return status
    }
}

extension ConsumerStatus: ResponseEncodable {}
