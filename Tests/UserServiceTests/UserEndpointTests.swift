import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import PostgresTestSupport
import ServiceSupport
import ServiceTestSupport
import Testing
import UserService

@Suite("user-service: users")
struct UserEndpointTests {
    @Test func listsTheSeededUsersInOrder() async throws {
        try await withUserService { client, _ in
            try await client.execute(uri: "/user-service", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let users = try #require(decode([User].self, response))
                #expect(users.map(\.id) == [1, 2, 3, 4])
                #expect(users[0] == User(id: 1, firstname: "Neha", lastname: "Parate", email: "neha.parate@gmail.com"))
                // Compact, like every response (PostgreSQL's json_agg prints spaces and line breaks).
                #expect(String(buffer: response.body).hasPrefix(#"[{"id":1,"firstname":"Neha","#))
                #expect(!String(buffer: response.body).contains("\n"))
            }
        }
    }

    @Test func readsOneUserOr404Or400() async throws {
        try await withUserService { client, _ in
            try await client.execute(uri: "/user-service/2", method: .get) { response in
                #expect(response.status == .ok)
                #expect(decode(User.self, response)?.firstname == "Aravind")
            }
            try await client.execute(uri: "/user-service/999", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(errorBody(response) == ErrorBody(status: .notFound, message: "no user with id 999"))
            }
            for bad in ["abc", "0", "-1", "99999999999999999999999"] {
                try await client.execute(uri: "/user-service/\(bad)", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(errorBody(response)?.error.status == 400)
                }
            }
        }
    }

    @Test func createsAUserWithTheNextIdAndOneEvent() async throws {
        try await withUserService { client, admin in
            let body = #"{"firstname": "Zoë", "lastname": "O'Brien", "email": "zoe@example.com"}"#
            try await client.execute(uri: "/user-service/create", method: .post, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .created)
                #expect(decode(User.self, response) == User(id: 5, firstname: "Zoë", lastname: "O'Brien", email: "zoe@example.com"))
            }
            let event = try await admin.query(
                "SELECT type, version, payload->>'firstname', payload->>'lastname' FROM user_service.events WHERE aggregate_type = 'user' AND aggregate_id = 5"
            )
            #expect(event.count == 1)
            #expect(try event[0].decode(0, as: String.self) == "UserCreated")
            #expect(try event[0].decode(1, as: Int.self) == 1)
            #expect(try event[0].decode(2, as: String.self) == "Zoë")
            #expect(try event[0].decode(3, as: String.self) == "O'Brien")
        }
    }

    @Test func anUpdateWritesOneEventWithTheNewStateAndKeepsFirstnameRight() async throws {
        try await withUserService { client, admin in
            let body = #"{"id": 1, "firstname": "Neha", "lastname": "Parate", "email": "neha.parate-updated@vinsguru.com"}"#
            try await client.execute(uri: "/user-service/update", method: .put, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .ok)
                #expect(
                    decode(User.self, response)
                        == User(id: 1, firstname: "Neha", lastname: "Parate", email: "neha.parate-updated@vinsguru.com")
                )
            }
            let rows = try await admin.query(
                """
                SELECT type, version, payload FROM user_service.events
                WHERE aggregate_type = 'user' AND aggregate_id = 1 ORDER BY version
                """
            )
            #expect(rows.count == 2)
            #expect(try rows[1].decode(0, as: String.self) == "UserUpdated")
            #expect(try rows[1].decode(1, as: Int.self) == 2)
            struct Payload: Decodable {
                var id: Int
                var firstname: String
                var lastname: String
                var email: String
                var version: Int
            }
            let payload = try rows[1].decode(2, as: PostgresJSON.self).decoded(as: Payload.self)
            #expect(payload.firstname == "Neha")
            #expect(payload.email == "neha.parate-updated@vinsguru.com")
            #expect(payload.version == 2)
            let stored: String = try await admin.scalar("SELECT firstname FROM user_service.users WHERE id = 1")
            #expect(stored == "Neha")
        }
    }

    @Test func aNoOpUpdateWritesNoEvent() async throws {
        try await withUserService { client, admin in
            let before = try await Snapshot.take(admin)
            let body = #"{"id": 2, "firstname": "Aravind", "lastname": "Dekate", "email": "aravind.dekate@gmail.com"}"#
            try await client.execute(uri: "/user-service/update", method: .put, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .ok)
            }
            #expect(try await Snapshot.take(admin) == before)
        }
    }

    @Test func updatingAMissingUserIs404AndWritesNothing() async throws {
        try await withUserService { client, admin in
            let before = try await Snapshot.take(admin)
            let body = #"{"id": 404, "firstname": "No", "lastname": "Body", "email": "no@body.org"}"#
            try await client.execute(uri: "/user-service/update", method: .put, headers: jsonHeaders, body: json(body)) { response in
                #expect(response.status == .notFound)
                #expect(errorBody(response)?.error.message == "no user with id 404")
            }
            #expect(try await Snapshot.take(admin) == before)
        }
    }

    @Test func anUpdateThroughPlainSQLAlsoWritesExactlyOneEvent() async throws {
        try await withUserService { _, admin in
            try await admin.query("UPDATE user_service.users SET lastname = $1 WHERE id = $2", ["Sharma", 3])
            try await admin.query("UPDATE user_service.users SET lastname = $1 WHERE id = $2", ["Sharma", 3])  // no-op
            let rows = try await admin.query(
                "SELECT version, payload->>'lastname' FROM user_service.events WHERE aggregate_type = 'user' AND aggregate_id = 3 ORDER BY id"
            )
            #expect(rows.count == 2)
            #expect(try rows[1].decode(0, as: Int.self) == 2)
            #expect(try rows[1].decode(1, as: String.self) == "Sharma")
            try await admin.query("DELETE FROM user_service.users WHERE id = $1", [3])
            let deleted = try await admin.query(
                "SELECT type, version, payload->>'deleted' FROM user_service.events WHERE aggregate_id = 3 AND aggregate_type = 'user' ORDER BY id DESC LIMIT 1"
            )
            #expect(try deleted[0].decode(0, as: String.self) == "UserDeleted")
            #expect(try deleted[0].decode(1, as: Int.self) == 3)
            #expect(try deleted[0].decode(2, as: String.self) == "true")
            // Re-created with the same id, versions carry on rather than restart.
            try await admin.query("INSERT INTO user_service.users (id, firstname, lastname, email) VALUES (3, 'M', 'D', 'm@d.io')")
            let version: Int = try await admin.scalar("SELECT version FROM user_service.users WHERE id = 3")
            #expect(version == 4)
        }
    }

    @Test func concurrentUpdatesOfOneUserGiveGaplessVersions() async throws {
        try await withUserService { client, admin in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        let body = #"{"id": 4, "firstname": "Suchita", "lastname": "Vinchurkar", "email": "s\#(i)@example.com"}"#
                        try await client.execute(uri: "/user-service/update", method: .put, headers: jsonHeaders, body: json(body)) { response in
                            #expect(response.status == .ok)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let versions = try await admin.query(
                "SELECT version FROM user_service.events WHERE aggregate_type = 'user' AND aggregate_id = 4 AND type = 'UserUpdated' ORDER BY version"
            ).map { try $0.decode(0, as: Int.self) }
            #expect(versions == Array(2...9))
            let current: Int = try await admin.scalar("SELECT version FROM user_service.users WHERE id = 4")
            #expect(current == 9)
        }
    }
}
