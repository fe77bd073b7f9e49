import Foundation
import Hummingbird
import Logging
import PostgresNIO

// The same endpoint as user-service's PUT /user-service/update: same route, JSON in and out, the
// same validation (mirroring Sources/UserService/Models/Validation.swift), the same UPDATE ...
// RETURNING with the write's token, 200 with ECST-Token, 404, 400/413 with the JSON error body.
// Configuration: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, POOL_SIZE, PORT.

struct UpdateRequest: Decodable {
    var id: Int64
    var firstname: String
    var lastname: String
    var email: String
}

struct User: ResponseEncodable {
    var id: Int64
    var firstname: String
    var lastname: String
    var email: String
}

struct Refused: Error {
    var status: HTTPResponse.Status
    var message: String
}

func text(_ value: String, _ field: String, _ maxLength: Int) throws -> String {
    if value.unicodeScalars.contains("\u{0}") { throw Refused(status: .badRequest, message: "field '\(field)' must not contain NUL characters") }
    if value.unicodeScalars.allSatisfy(\.properties.isWhitespace) { throw Refused(status: .badRequest, message: "field '\(field)' must not be empty") }
    let length = value.unicodeScalars.count
    if length > maxLength {
        throw Refused(status: .badRequest, message: "field '\(field)' must be at most \(maxLength) characters, got \(length)")
    }
    return value
}

func email(_ value: String) throws -> String {
    let email = try text(value, "email", 254)
    let scalars = email.unicodeScalars
    let parts = scalars.split(separator: "@", omittingEmptySubsequences: false)
    let labels = parts.count == 2 ? parts[1].split(separator: ".", omittingEmptySubsequences: false) : []
    let plausible =
        parts.count == 2 && !parts[0].isEmpty && labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
        && !scalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace })
    guard plausible else { throw Refused(status: .badRequest, message: "field 'email' must be a valid email address") }
    return email
}

func errorResponse(_ status: HTTPResponse.Status, _ message: String) -> Response {
    let body = try! JSONSerialization.data(withJSONObject: ["error": ["status": status.code, "message": message]])
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}

let environment = ProcessInfo.processInfo.environment
var configuration = PostgresClient.Configuration(
    host: environment["PGHOST"] ?? "127.0.0.1",
    port: Int(environment["PGPORT"] ?? "") ?? 5432,
    username: environment["PGUSER"] ?? "user_service",
    password: environment["PGPASSWORD"],
    database: environment["PGDATABASE"] ?? "ecst",
    tls: .disable
)
configuration.options.maximumConnections = Int(environment["POOL_SIZE"] ?? "") ?? 10
var logger = Logger(label: "peer")
logger.logLevel = .warning
let client = PostgresClient(configuration: configuration, backgroundLogger: logger)

let router = Router()
router.put("/user-service/update") { request, context -> Response in
    do {
        let body = try await request.body.collect(upTo: 1 << 20)
        let input: UpdateRequest
        do {
            input = try JSONDecoder().decode(UpdateRequest.self, from: body)
        } catch {
            throw Refused(status: .badRequest, message: "the request body is not a valid update: \(error)")
        }
        guard input.id > 0 else { throw Refused(status: .badRequest, message: "field 'id' must be a positive integer") }
        let firstname = try text(input.firstname, "firstname", 45)
        let lastname = try text(input.lastname, "lastname", 45)
        let email = try email(input.email)
        let rows = try await client.query(
            """
            UPDATE user_service.users SET firstname = \(firstname), lastname = \(lastname), email = \(email) WHERE id = \(input.id)
            RETURNING id, firstname, lastname, email, user_service.transaction_token()
            """,
            logger: logger
        )
        for try await (id, first, last, mail, token) in rows.decode((Int64, String, String, String, String).self) {
            var response = try User(id: id, firstname: first, lastname: last, email: mail).response(from: request, context: context)
            response.headers[.init("ECST-Token")!] = token
            return response
        }
        return errorResponse(.notFound, "no user with id \(input.id)")
    } catch let refused as Refused {
        return errorResponse(refused.status, refused.message)
    } catch let error as HTTPError where error.status == .contentTooLarge {
        return errorResponse(.contentTooLarge, "the request body is larger than 1 MiB")
    }
}

var app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: Int(environment["PORT"] ?? "") ?? 18090), serverName: "peer"),
    logger: logger
)
app.addServices(client)
try await app.runService()
