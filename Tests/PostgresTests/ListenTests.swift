import Foundation
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

    #if os(Linux)
        /// An operator's `top -H` or `perf` tells the listener's thread and the result thread from
        /// the event loops (Foundation's thread name alone never reached the kernel).
        @Test func theClientsThreadsSayWhatTheyAre() async throws {
            try await TestDatabases.shared.withClient { client, _ in
                try await client.query("SELECT 1")
                try await client.listen(on: "named") { stream in
                    for await event in stream {
                        #expect(event == .listening(reconnected: false))
                        break
                    }
                    let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap {
                        try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    #expect(names.contains("pg-listen"))
                    #expect(names.contains("pg-results"))
                }
            }
        }
    #endif

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

    /// A listener warmed up ahead listens from the warm-up on, on the session `listen` then takes:
    /// a notification sent between the two is delivered, and no second session is opened
    /// (docs/design.md#a-start-that-connects-while-it-builds).
    @Test func aWarmedUpListenerIsTakenAndHearsWhatWasSentBeforeListenStarted() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            client.warmUpListener(on: ["warm"], applicationName: "warm-listener", setup: "SELECT $1::bool", setupParameters: [true])
            try await eventually("the warmed-up session to listen") {
                try await sessions(of: client, named: "warm-listener", listening: true).count == 1
            }
            let warmed = try await sessions(of: client, named: "warm-listener")
            try await client.query("SELECT pg_notify('warm', 'before listen')")
            let events = Mailbox<PostgresListenerEvent>()
            try await client.listen(on: ["warm"], applicationName: "warm-listener", setup: "SELECT $1::bool", setupParameters: [true]) { stream in
                let reader = Task { for await event in stream { await events.append(event) } }
                try await eventually("the notification sent before listen") {
                    await events.items.contains { if case .notification(let n) = $0 { n.payload == "before listen" } else { false } }
                }
                #expect(await events.items.first == .listening(reconnected: false))
                #expect(try await sessions(of: client, named: "warm-listener") == warmed)
                reader.cancel()
            }
        }
    }

    /// A warm-up whose setup answered false (another session held the lock it takes) leaves the
    /// setup to the listener, which runs it on the same session until it answers true, and only
    /// then says it is listening.
    @Test func aWarmedUpListenerWhoseSetupAnsweredFalseIsSetUpByTheListener() async throws {
        try await TestDatabases.shared.withClient { client, database in
            let setup = "SELECT CASE WHEN pg_try_advisory_lock(4242) THEN true ELSE (SELECT false FROM pg_sleep(0.02)) END"
            let held = try await OpenTransaction.begin(on: database.configuration) { tx in
                try await tx.query("SELECT pg_advisory_xact_lock(4242)")
            }
            client.warmUpListener(on: ["warm-held"], applicationName: "warm-held", setup: setup)
            let setupIs = { (state: String) in
                try await client.scalar(
                    """
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'warm-held'
                    AND state = $1 AND query LIKE '%pg_try_advisory_lock%'
                    """,
                    [state], as: Int.self) == 1
            }
            try await eventually("the warm-up's one setup to answer false") { try await setupIs("idle") }
            let warmed = try await sessions(of: client, named: "warm-held")
            let events = Mailbox<PostgresListenerEvent>()
            try await client.listen(on: ["warm-held"], applicationName: "warm-held", setup: setup) { stream in
                let reader = Task { for await event in stream { await events.append(event) } }
                // The listener runs the setup again, and is not listening while it answers false.
                try await eventually("the listener to run the setup again") { try await setupIs("active") }
                #expect(await events.items.isEmpty)
                try await held.rollback()
                try await eventually("the listener to listen") { await events.items.first == .listening(reconnected: false) }
                #expect(try await sessions(of: client, named: "warm-held") == warmed)
                try await client.query("SELECT pg_notify('warm-held', 'after')")
                try await eventually("the notification") {
                    await events.items.contains { if case .notification(let n) = $0 { n.payload == "after" } else { false } }
                }
                reader.cancel()
            }
        }
    }

    /// A warm-up for another plan is not taken but closed, and one never taken is closed with its
    /// client.
    @Test func aWarmedUpListenerForAnotherPlanOrNeverTakenIsClosed() async throws {
        try await TestDatabases.shared.withClient { client, database in
            client.warmUpListener(on: ["one"], applicationName: "warm-other")
            try await eventually("the warmed-up session to listen") {
                try await sessions(of: client, named: "warm-other", listening: true).count == 1
            }
            let warmed = try await sessions(of: client, named: "warm-other")
            try await client.listen(on: ["two"], applicationName: "warm-other") { stream in
                for await event in stream {
                    #expect(event == .listening(reconnected: false))
                    break
                }
                try await eventually("the warmed-up session to close") {
                    let now = try await sessions(of: client, named: "warm-other")
                    return now.count == 1 && now != warmed
                }
            }

            var configuration = database.configuration
            configuration.maximumConnections = 1
            let other = PostgresClient(configuration: configuration)
            other.warmUpListener(on: ["three"], applicationName: "warm-unused")
            try await eventually("the warmed-up session to listen") {
                try await sessions(of: client, named: "warm-unused", listening: true).count == 1
            }
            await other.close()
            try await eventually("the unused session to close") {
                try await sessions(of: client, named: "warm-unused").isEmpty
            }
        }
    }

    /// The reaction runs on the listening session, and again when a notification arrived while it
    /// ran: here the first run waits for a lock the test holds, with a snapshot taken before the
    /// second row committed, so only a second run can see that row. The notifications themselves
    /// are not reported.
    @Test func theReactionRunsOnTheListeningSessionAndAgainForWhatArrivedWhileItRan() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            try await client.query("CREATE TABLE reacted (n int)")
            let held = try await OpenTransaction.begin(on: client.configuration) { try await $0.query("SELECT pg_advisory_xact_lock(4242)") }
            let events = Mailbox<PostgresListenerEvent>()
            try await client.listen(
                on: ["reactions"], applicationName: "ecst-test/react",
                reaction: "SELECT (SELECT count(*) FROM reacted)::int AS rows, pg_backend_pid() AS pid FROM (SELECT pg_advisory_xact_lock($1)) AS l",
                reactionParameters: [4242]
            ) { stream, _ in
                let reader = Task { for await event in stream { await events.append(event) } }
                try await eventually { await events.count == 1 }
                try await client.query("WITH i AS (INSERT INTO reacted VALUES (1)) SELECT pg_notify('reactions', 'first')")
                var listener: Int32?
                try await eventually("the reaction to wait for the lock") {
                    listener = try await client.query(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = 'ecst-test/react' AND wait_event_type = 'Lock'"
                    ).first.map { try $0.decode(0, as: Int32.self) }
                    return listener != nil
                }
                try await client.query("WITH i AS (INSERT INTO reacted VALUES (2)) SELECT pg_notify('reactions', 'second')")
                // Its notification is read with the blocked run's result, once the lock is free.
                try await held.commit()
                var runs: [(rows: Int, pid: Int32)] = []
                try await eventually("a run that sees both rows") {
                    runs = await events.items.compactMap { event in
                        guard case .reacted(.success(let rows), _) = event else { return nil }
                        return try? (rows[0].decode("rows"), rows[0].decode("pid"))
                    }
                    return runs.last?.rows == 2
                }
                #expect(runs.map(\.rows) == [1, 2])
                #expect(runs.allSatisfy { $0.pid == listener })
                // The notifications are not reported: the reaction ran for them.
                #expect(await events.items.allSatisfy { if case .notification = $0 { false } else { true } })
                reader.cancel()
            }
        }
    }

    /// While its reaction runs, the listener says for how long (what the consumer's progress lines
    /// report of a long read); between runs, nil.
    @Test func theListenerSaysHowLongItsReactionHasRun() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let held = try await OpenTransaction.begin(on: client.configuration) { try await $0.query("SELECT pg_advisory_xact_lock(4343)") }
            let events = Mailbox<PostgresListenerEvent>()
            try await client.listen(
                on: ["running"], reaction: "SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l", reactionParameters: [4343]
            ) { stream, listener in
                let reader = Task { for await event in stream { await events.append(event) } }
                try await eventually { await events.count == 1 }
                #expect(listener.reactionRunningFor == nil)
                listener.react()
                // The run waits for the lock; what it reports grows while it waits.
                var first: Duration?
                try await eventually("a running reaction") {
                    first = listener.reactionRunningFor
                    return first != nil
                }
                try await eventually("the reaction still running, longer") {
                    guard let now = listener.reactionRunningFor else { return false }
                    return now > first!
                }
                try await held.commit()
                try await eventually("the reaction's result") {
                    await events.items.contains { if case .reacted(.success, _) = $0 { true } else { false } }
                }
                #expect(listener.reactionRunningFor == nil)
                reader.cancel()
            }
        }
    }

    @Test func theBodyCanAskForAReactionWithoutANotification() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let events = Mailbox<PostgresListenerEvent>()
            try await client.listen(on: ["asked"], reaction: "SELECT $1::int AS asked", reactionParameters: [7]) { stream, listener in
                let reader = Task { for await event in stream { await events.append(event) } }
                try await eventually { await events.count == 1 }
                #expect(await events.items.allSatisfy { if case .reacted = $0 { false } else { true } })
                listener.react()
                try await eventually("the reaction") {
                    await events.items.contains { if case .reacted(.success(let rows), _) = $0 { (try? rows[0].decode(0, as: Int.self)) == 7 } else { false } }
                }
                reader.cancel()
            }
        }
    }
}

/// The backends of this test's database named `applicationName` (those whose last statement was a
/// `LISTEN`, when `listening`), by process id.
private func sessions(of client: PostgresClient, named applicationName: String, listening: Bool = false) async throws -> [Int] {
    let rows = try await client.query(
        """
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1 AND (NOT $2 OR query LIKE 'LISTEN%')
        ORDER BY pid
        """,
        [applicationName, listening]
    )
    return try rows.map { try $0.decode(0, as: Int.self) }
}
