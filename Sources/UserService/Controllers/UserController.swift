import Hummingbird
import ServiceSupport

/// `/user-service`: list, read, create and update users.
struct UserController<Context: RequestContext> {
    let repository: UserRepository

    struct CreateRequest: JSONObjectDecodable {
        var firstname: String
        var lastname: String
        var email: String

        init(json: JSONObjectReader) throws(APIError) {
            firstname = try json.string("firstname")
            lastname = try json.string("lastname")
            email = try json.string("email")
        }
    }

    struct UpdateRequest: JSONObjectDecodable {
        var id: Int64
        var firstname: String
        var lastname: String
        var email: String

        init(json: JSONObjectReader) throws(APIError) {
            id = try json.integer("id")
            firstname = try json.string("firstname")
            lastname = try json.string("lastname")
            email = try json.string("email")
        }
    }

    func addRoutes(to group: RouterGroup<Context>) {
        group.get(use: list)
        group.get("{id}", use: show)
        group.post("create", use: create)
        group.put("update", use: update)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        .jsonText(try await repository.listJSON())
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> User {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else { throw APIError.badRequest("user id must be a positive integer, got '\(text)'") }
        guard let user = try await repository.find(id: id) else { throw APIError.notFound("no user with id \(id)") }
        return user
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> EditedResponse<User> {
        var request = request
        let input = try await request.decodeJSON(as: CreateRequest.self, context: context)
        let written = try await repository.create(
            firstname: try Validation.text(input.firstname, field: "firstname", maxLength: 45),
            lastname: try Validation.text(input.lastname, field: "lastname", maxLength: 45),
            email: try Validation.email(input.email)
        )
        context.logger.info("user created", metadata: ["user_id": "\(written.value.id)"])
        return written.response(status: .created)
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> EditedResponse<User> {
        var request = request
        let input = try await request.decodeJSON(as: UpdateRequest.self, context: context)
        let user = User(
            id: try Validation.id(input.id),
            firstname: try Validation.text(input.firstname, field: "firstname", maxLength: 45),
            lastname: try Validation.text(input.lastname, field: "lastname", maxLength: 45),
            email: try Validation.email(input.email)
        )
        guard let updated = try await repository.update(user) else { throw APIError.notFound("no user with id \(user.id)") }
        context.logger.info("user updated", metadata: ["user_id": "\(user.id)"])
        return updated.response()
    }
}

/// Written by hand (`JSONObjectWriter`), in `Codable`'s key order.
extension User: JSONObjectEncodable {
    public func write(to object: inout JSONObjectWriter) {
        object.field("id", id)
        object.field("firstname", firstname)
        object.field("lastname", lastname)
        object.field("email", email)
    }
}
