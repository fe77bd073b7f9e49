import Hummingbird
import ServiceSupport

/// `/user-service/products`: list and update the catalogue.
struct ProductController<Context: RequestContext> {
    let repository: ProductRepository

    struct UpdateRequest: JSONObjectDecodable {
        var id: Int64
        var description: String
        var price: Int
        var qtyAvailable: Int

        init(json: JSONObjectReader) throws(APIError) {
            id = try json.integer("id")
            description = try json.string("description")
            price = Int(try json.integer("price"))
            qtyAvailable = Int(try json.integer("qty_available"))
        }
    }

    func addRoutes(to group: RouterGroup<Context>) {
        group.get(use: list)
        group.put("update", use: update)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        .jsonText(try await repository.listJSON())
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> EditedResponse<Product> {
        var request = request
        let input = try await request.decodeJSON(as: UpdateRequest.self, context: context)
        let product = Product(
            id: try Validation.id(input.id),
            description: try Validation.text(input.description, field: "description", maxLength: 500),
            price: try Validation.count(input.price, field: "price"),
            qtyAvailable: try Validation.count(input.qtyAvailable, field: "qty_available")
        )
        guard let updated = try await repository.update(product) else { throw APIError.notFound("no product with id \(product.id)") }
        context.logger.info("product updated", metadata: ["product_id": "\(product.id)"])
        return updated.response()
    }
}

/// Written by hand, in `Codable`'s key order, like `User`.
extension Product: JSONObjectEncodable {
    public func write(to object: inout JSONObjectWriter) {
        object.field("id", id)
        object.field("description", description)
        object.field("price", price)
        object.field("qty_available", qtyAvailable)
    }
}
