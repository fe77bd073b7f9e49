import Foundation
import OrderService
import PostgresTestSupport
import Testing
import UserService
import Yams

/// docker-compose.yml read as data and held against the code's defaults and the contract.
@Suite("docker-compose.yml and Dockerfile")
struct ComposeFileTests {
    let compose: [String: Any]
    let services: [String: [String: Any]]

    init() throws {
        let text = try String(contentsOfFile: repositoryFile("docker-compose.yml"), encoding: .utf8)
        compose = try #require(try Yams.load(yaml: text) as? [String: Any])
        services = try #require(compose["services"] as? [String: [String: Any]])
    }

    func environment(_ service: String) -> [String: String] {
        let raw = services[service]?["environment"] as? [String: Any] ?? [:]
        return raw.mapValues { "\($0)" }
    }

    @Test func hasTheFourServices() {
        #expect(Set(services.keys) == ["postgres", "user-service", "order-service", "integration-tests"])
    }

    @Test func postgresIsFifteenWithTheSchemaAndAHealthcheck() throws {
        let postgres = try #require(services["postgres"])
        #expect((postgres["image"] as? String)?.hasPrefix("postgres:15") == true)
        let volumes = postgres["volumes"] as? [String] ?? []
        #expect(volumes.contains { $0.hasPrefix("./schema.sql:/docker-entrypoint-initdb.d/") })
        #expect(postgres["healthcheck"] != nil)
        #expect(environment("postgres")["POSTGRES_DB"] == "ecst")
    }

    @Test(arguments: [
        ("user-service", userServiceDefaultPort, userServiceRole),
        ("order-service", orderServiceDefaultPort, orderServiceRole),
    ])
    func serviceAgreesWithTheCode(_ name: String, _ port: Int, _ role: String) throws {
        let service = try #require(services[name])
        let env = environment(name)
        #expect(env["PORT"] == "\(port)")
        #expect(env["HOST"] == "0.0.0.0")
        #expect((service["ports"] as? [String])?.contains("\(port):\(port)") == true)
        #expect((service["command"] as? [String]) == [name])
        let url = try #require(env["DATABASE_URL"].flatMap(URLComponents.init(string:)))
        #expect(url.user == role)
        #expect(url.host == "postgres")
        #expect(url.path == "/" + (environment("postgres")["POSTGRES_DB"] ?? ""))
        let dependsOn = service["depends_on"] as? [String: [String: String]]
        #expect(dependsOn?["postgres"]?["condition"] == "service_healthy")
        #expect(service["restart"] as? String == "unless-stopped")
        let healthcheck = try #require(service["healthcheck"] as? [String: Any])
        let test = (healthcheck["test"] as? [String])?.joined(separator: " ") ?? ""
        #expect(test.contains("127.0.0.1/\(port)") && test.contains("/health"))
    }

    @Test func integrationTestsRunInTheTestProfileAgainstTheServices() throws {
        let tests = try #require(services["integration-tests"])
        #expect(tests["profiles"] as? [String] == ["test"])
        let env = environment("integration-tests")
        #expect(env["USER_SERVICE_URL"] == "http://user-service:\(userServiceDefaultPort)")
        #expect(env["ORDER_SERVICE_URL"] == "http://order-service:\(orderServiceDefaultPort)")
        #expect(env["DATABASE_URL"] != nil)
        let build = tests["build"] as? [String: Any]
        #expect(build?["target"] as? String == "test")
    }

    @Test func theRolePasswordsMatchTheURLs() throws {
        let sql = try String(contentsOfFile: repositoryFile("docker/passwords.sql"), encoding: .utf8)
        for (name, role) in [("user-service", userServiceRole), ("order-service", orderServiceRole)] {
            let url = try #require(environment(name)["DATABASE_URL"].flatMap(URLComponents.init(string:)))
            #expect(sql.contains("ALTER ROLE \(role) PASSWORD '\(url.password ?? "")'"))
        }
    }

    @Test func dockerfileIsMultiStageSlimAndNonRoot() throws {
        let text = try String(contentsOfFile: repositoryFile("Dockerfile"), encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let stages = lines.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count >= 3)
        #expect(stages.contains { $0.contains("AS build") })
        #expect(stages.contains { $0.contains("AS test") })
        #expect(stages.last?.contains("debian:bookworm-slim") == true)
        #expect(text.contains("libpq5"))
        let user = try #require(lines.last { $0.hasPrefix("USER ") })
        #expect(user != "USER root" && user != "USER 0")
        #expect(text.contains("user-service") && text.contains("order-service"))
        #expect(text.contains("--product ecst"), "the image ships the operations command")
    }
}
