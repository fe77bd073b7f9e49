import Postgres
import PostgresTestSupport

/// A steady stream of updates to four users through the user-service, remembering each one
/// acknowledged (200) and counting the answers that were not.
final class UpdateStream: Sendable {
    private let acknowledged = Mailbox<(Int, String)>()
    private let refused = Mailbox<Int>()
    private let stopped = Mailbox<Bool>()
    private let writer: Task<Void, Never>

    init(_ users: RunningService) {
        let (acknowledged, refused, stopped) = (acknowledged, refused, stopped)
        writer = Task {
            var i = 0
            while await stopped.count == 0 {
                i += 1
                let user = 1 + i % 4
                let email = "stream-\(i)@example.com"
                let reply = try? await users.http.request(
                    .PUT, "/user-service/update",
                    body: #"{"id": \#(user), "firstname": "F", "lastname": "L\#(i)", "email": "\#(email)"}"#,
                    timeout: .seconds(10)
                )
                if reply?.status == 200 { await acknowledged.append((user, email)) } else { await refused.append(i) }
            }
        }
    }

    /// Waits for `count` more acknowledgements (a deadline for a CI machine running every suite at
    /// once, not a speed requirement).
    func acknowledges(_ count: Int, _ when: String) async throws {
        let before = await acknowledged.count
        try await eventually(timeout: .seconds(30), "\(count) acknowledged updates \(when)") { await acknowledged.count >= before + count }
    }

    func stop() async {
        await stopped.append(true)
        _ = await writer.value
    }

    /// How many updates were not acknowledged (an error answer, or none).
    var refusals: Int { get async { await refused.count } }

    /// The acknowledged updates (by their unique email) that no event in the outbox records.
    func unrecorded(_ database: PostgresClient) async throws -> [String] {
        let emails = await acknowledged.items.map(\.1)
        let recorded = try await database.query(
            "SELECT DISTINCT payload ->> 'email' FROM user_service.events WHERE aggregate_type = 'user' AND payload ->> 'email' = ANY ($1)",
            [emails]
        ).map { try $0.decode(0, as: String.self) }
        return Array(Set(emails).subtracting(recorded)).sorted()
    }

    /// The users whose stored email is not the last one acknowledged for them.
    func lostUpdates(_ database: PostgresClient) async throws -> [Int] {
        var last: [Int: String] = [:]
        for (user, email) in await acknowledged.items { last[user] = email }
        var lost: [Int] = []
        for (user, email) in last.sorted(by: { $0.key < $1.key }) {
            let stored: String = try await database.scalar("SELECT email FROM user_service.users WHERE id = $1", [user])
            if stored != email { lost.append(user) }
        }
        return lost
    }
}
