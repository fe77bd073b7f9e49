import Postgres
import PostgresTestSupport
import Testing

@Suite("LISTEN")
struct ListenTests {
    @Test func notificationsArriveInOrder() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let events = Mailbox<PostgresListenerEvent>()
            try await client.listen(on: "ecst test") { stream in
                let reader = Task { for await event in stream { await events.append(event) } }
                try await eventually { await events.count == 1 }
                #expect(await events.items.first == .listening(reconnected: false))
                for i in 0..<20 {
                    try await client.query("SELECT pg_notify($1, $2)", ["ecst test", "n\(i)"])
                }
                try await eventually { await events.count == 21 }
                let payloads = await events.items.compactMap { event -> String? in
                    if case .notification(let n) = event { return n.payload }
                    return nil
                }
                #expect(payloads == (0..<20).map { "n\($0)" })
                reader.cancel()
            }
        }
    }

    @Test func aKilledListenerReconnectsAndSaysItMayHaveMissedSome() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let events = Mailbox<PostgresListenerEvent>()
            try await client.listen(on: "events") { stream in
                let reader = Task { for await event in stream { await events.append(event) } }
                try await eventually { await events.count == 1 }
                let pid = try await client.scalar(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'", as: Int.self)
                try await client.query("SELECT pg_terminate_backend($1::int)", [pid])
                // The loss is seen when the socket closes, at once; the deadline also covers
                // connecting a new backend, which a fully loaded 2-core CI machine can slow down.
                try await eventually(timeout: .seconds(3), "the reconnect") {
                    await events.items.contains(.listening(reconnected: true))
                }
                try await client.query("SELECT pg_notify('events', 'after')")
                try await eventually {
                    await events.items.contains { if case .notification(let n) = $0 { n.payload == "after" } else { false } }
                }
                let newPID = try await client.scalar(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'", as: Int.self)
                #expect(newPID != pid)
                reader.cancel()
            }
        }
    }

    @Test func leavingTheScopeClosesTheListenerSession() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            try await client.listen(on: "scoped") { stream in
                for await event in stream {
                    #expect(event == .listening(reconnected: false))
                    break
                }
            }
            try await eventually("the listener session to close") {
                try await client.scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'", as: Int.self) == 0
            }
        }
    }
}
