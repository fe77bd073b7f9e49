import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import OrderService
import Postgres
import PostgresTestSupport
import ServiceSupport
import ServiceTestSupport
import Testing

/// `ECST-After` (docs/design.md#read-your-writes): a request waits for the write its token names,
/// and for nothing else. The watches here recheck only every 30 s unless a test says otherwise, so
/// an answer in time proves the position announcement it relies on.
@Suite("order-service: ECST-After waits for the write its token names")
struct ReadYourWritesTests {
    static let slowRecheck = Duration.seconds(30)

    func watch(_ world: OrderWorld, recheck: Duration = slowRecheck) -> TokenWatch {
        var logger = Logger(label: "tokens")
        logger.logLevel = .critical
        return TokenWatch(database: world.service, consumer: defaultConsumerName, logger: logger, recheckInterval: recheck)
    }

    /// A write's token, as user-service returns it.
    func write(_ world: OrderWorld, _ sql: String) async throws -> String {
        try await world.admin.withTransaction { tx in
            try await tx.query(sql)
            return try await tx.scalar("SELECT user_service.transaction_token()")
        }
    }

    func headers(after token: String, wait: String? = nil) -> HTTPFields {
        var fields: HTTPFields = [.ecstAfter: token]
        if let wait { fields[.ecstWait] = wait }
        return fields
    }

    /// An applier the test drives by hand, telling the watch as the consumer would.
    func manualApplier(_ world: OrderWorld) async throws -> EventApplier {
        let applier = EventApplier(database: world.service, consumer: defaultConsumerName, identity: "test")
        try await applier.register()
        return applier
    }

    /// Applies every pending event; the batch's last chunk.
    func applyAll(_ applier: EventApplier) async throws -> EventApplier.ChunkResult {
        while true {
            guard case .applied(let chunk, let more, _) = try await applier.applyNextChunk() else { throw EndToEndError("the position is busy") }
            if !more { return chunk }
        }
    }

    /// Runs `body` while the position table is locked, so that no check of a watch can finish.
    func whileChecksWait<R: Sendable>(_ world: OrderWorld, _ body: () async throws -> R) async throws -> R {
        let lock = try await OpenTransaction.begin(on: world.database.configuration) { tx in
            try await tx.query("LOCK TABLE order_service.consumer_positions IN ACCESS EXCLUSIVE MODE")
        }
        do {
            let result = try await body()
            try await lock.rollback()
            return result
        } catch {
            try await lock.rollback()
            throw error
        }
    }

    /// Waits until a watch's session listens for other processes' positions: idle after its
    /// `LISTEN`, or after the idle probe that follows it (idle after the setup before the `LISTEN`,
    /// it would still miss a notification; this once failed a test under load).
    func waitUntilWatching(_ world: OrderWorld) async throws {
        try await eventually {
            let watching: Int = try await world.admin.scalar(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE application_name = $1 AND state = 'idle' AND (query LIKE 'LISTEN %' OR query = 'SELECT 1') AND datname = current_database()
                """,
                [TokenWatch.listenerName])
            return watching == 1
        }
    }

    /// A transaction left open after an update of user `id`, and its token.
    func openUpdate(_ world: OrderWorld, user id: Int, email: String) async throws -> (OpenTransaction, String) {
        let token = Mailbox<String>()
        let open = try await OpenTransaction.begin(on: world.database.configuration) { tx in
            try await tx.query("UPDATE user_service.users SET email = $1 WHERE id = $2", [email, id])
            await token.append(try await tx.scalar("SELECT user_service.transaction_token()"))
        }
        return (open, await token.items[0])
    }

    @Test func aNewUsersOrderIsCreatedOnTheFirstTryWithItsToken() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world)
            await world.startConsumer(tokens: tokens)
            try await world.waitUntilCaughtUp()
            try await withRouter(world, tokens: tokens) { client in
                for n in 0..<50 {
                    let token = try await write(
                        world, "INSERT INTO user_service.users (firstname, lastname, email) VALUES ('New', 'User', 'n\(n)@example.com')")
                    let id: Int64 = try await world.admin.scalar("SELECT max(id) FROM user_service.users")
                    var fields = headers(after: token)
                    fields[.contentType] = "application/json"
                    try await client.execute(
                        uri: "/order-service/create", method: .post, headers: fields, body: ByteBuffer(string: #"{"userId": \#(id), "productId": 1}"#)
                    ) { response in
                        #expect(response.status == .created, "try \(n): \(String(buffer: response.body))")
                    }
                }
            }
        }
    }

    @Test func aTokenOfAnOpenTransactionIsAnsweredOnlyAfterItCommits() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world)
            await world.startConsumer(tokens: tokens)
            try await world.waitUntilCaughtUp()
            try await eventually { await tokens.appliesHere }
            let (open, token) = try await openUpdate(world, user: 1, email: "after-commit@example.com")
            try await withRouter(world, tokens: tokens) { client in
                let answered = Mailbox<String>()
                let request = Task {
                    try await client.execute(uri: "/order-service/1", method: .get, headers: headers(after: token, wait: "30")) { response in
                        await answered.append("\(response.status.code) \(decode(Order.self, response)?.user.email ?? String(buffer: response.body))")
                    }
                }
                try await eventually { await tokens.waiting == 1 }
                #expect(await answered.count == 0)
                try await open.commit()
                // Well before the wait or the recheck: the consumer's own position announces it.
                try await eventually("the answer") { await answered.count == 1 }
                try await request.value
                #expect(await answered.items == ["200 after-commit@example.com"])
                // The process that applies needs no notification of its own positions.
                let watching: Int = try await world.admin.scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", [TokenWatch.listenerName])
                #expect(watching == 0)
            }
        }
    }

    @Test func aTokenThatRolledBackIsAnsweredAtOnce() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world)
            await world.startConsumer(tokens: tokens)
            let token: String = try await world.admin.withConnection { session in
                try await session.query("BEGIN")
                try await session.query("UPDATE user_service.users SET email = 'never@example.com' WHERE id = 1")
                let token: String = try await session.scalar("SELECT user_service.transaction_token()")
                try await session.query("ROLLBACK")
                return token
            }
            try await withRouter(world, tokens: tokens) { client in
                // Waiting up to 30 s would end in 503; the answer is knowable now.
                try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: token, wait: "30")) { response in
                    #expect(response.status == .conflict)
                    #expect(errorBody(response)?.error.message.contains("rolled back") == true)
                }
            }
        }
    }

    @Test func malformedAndUnknownTokensAndWaitsAreRefused() async throws {
        try await withOrderWorld { world in
            try await withRouter(world) { client in
                for bad in ["abc", "-1", "1.5", "", "99999999999999999999999", "12 34"] {
                    try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: bad)) { response in
                        #expect(response.status == .badRequest, "token '\(bad)'")
                        #expect(errorBody(response)?.error.message.contains("ECST-After") == true)
                    }
                }
                for bad in ["soon", "-1", "nan", "inf"] {
                    try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: "3", wait: bad)) { response in
                        #expect(response.status == .badRequest, "wait '\(bad)'")
                        #expect(errorBody(response)?.error.message.contains("ECST-Wait") == true)
                    }
                }
                try await client.execute(uri: "/order-service/all", method: .get, headers: [.ecstWait: "-1"]) { response in
                    #expect(response.status == .badRequest, "ECST-Wait alone is checked too")
                }
                // Far above any transaction id this database has given.
                try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: "9223372036854775000", wait: "30")) {
                    response in
                    #expect(response.status == .unprocessableContent)
                }
                try await client.execute(uri: "/order-service/consumer?token=x", method: .get) { response in
                    #expect(response.status == .badRequest)
                }
            }
        }
    }

    @Test func pastItsWaitARequestGets503WithRetryAfter() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world, recheck: .milliseconds(20))
            await world.startConsumer(tokens: tokens)
            try await world.waitUntilCaughtUp()
            let (open, token) = try await openUpdate(world, user: 1, email: "late@example.com")
            try await withRouter(world, tokens: tokens) { client in
                try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: token, wait: "0.2")) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(errorBody(response)?.error.message.contains("not applied yet") == true)
                }
                try await client.execute(uri: "/order-service/consumer?token=\(token)", method: .get) { response in
                    #expect(decode(ConsumerStatus.self, response)?.token?.state == .pending)
                }
                try await open.commit()
                try await eventually {
                    try await client.execute(uri: "/order-service/consumer?token=\(token)", method: .get) { response in
                        decode(ConsumerStatus.self, response)?.token?.state == .applied
                    }
                }
            }
            #expect(await tokens.waiting == 0)
        }
    }

    @Test func aWriteThatChangedNothingIsAppliedAtOnce() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world)
            await world.startConsumer(tokens: tokens)
            try await world.waitUntilCaughtUp()
            let events = try await world.eventCount()
            let token = try await write(world, "UPDATE user_service.users SET email = email WHERE id = 1")
            #expect(try await world.eventCount() == events)
            try await withRouter(world, tokens: tokens) { client in
                try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: token, wait: "20")) { response in
                    #expect(response.status == .ok)
                }
            }
        }
    }

    @Test func manyWaitersShareOneQueryPerCheck() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world, recheck: .milliseconds(20))
            await world.startConsumer(tokens: tokens)
            try await world.waitUntilCaughtUp()
            let (open, token) = try await openUpdate(world, user: 2, email: "many@example.com")
            let waiters = 200
            // Answered, the 200 requests read the orders at once on 8 sessions: with every suite
            // running beside this one, some waited past the pool's default 5 s and got 503.
            var configuration = world.database.configuration(asUser: "order_service")
            configuration.acquireTimeout = .seconds(60)
            try await PostgresClient.withClient(configuration: configuration) { database in
                try await withRouter(world, tokens: tokens, database: database) { client in
                    try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                        for _ in 0..<waiters {
                            group.addTask {
                                try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: token, wait: "20")) {
                                    ($0.status, $0.status == .ok ? "" : String(buffer: $0.body))
                                }
                            }
                        }
                        try await eventually { await tokens.waiting == waiters }
                        // Arrivals share checks, and so do the waits after them.
                        let arrived = await tokens.checks
                        #expect(arrived < waiters / 2, "\(arrived) checks for \(waiters) arrivals")
                        try await open.commit()
                        for try await (status, body) in group { #expect(status == .ok, "\(body)") }
                        let whileWaiting = await tokens.checks - arrived
                        #expect(whileWaiting < waiters / 4, "\(whileWaiting) checks for \(waiters) waiters")
                    }
                }
            }
        }
    }

    @Test func theApplyingConsumerAnswersItsWaitersWithoutAQueryOfTheirOwn() async throws {
        try await withOrderWorld { world in
            // No recheck within the test: only the consumer's own statement can answer.
            let tokens = watch(world, recheck: .seconds(600))
            await world.startConsumer(tokens: tokens)
            try await world.waitUntilCaughtUp()
            let (open, token) = try await openUpdate(world, user: 4, email: "direct@example.com")
            try await withRouter(world, tokens: tokens) { client in
                let request = Task {
                    try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: token, wait: "30")) { $0.status }
                }
                try await eventually { await tokens.waiting == 1 }
                // The arrival's own check (pending) has run once it waits with nothing to do.
                try await eventually { await tokens.checks >= 1 }
                let checksBefore = await tokens.checks
                try await open.commit()
                #expect(try await request.value == .ok)
                #expect(await tokens.checks == checksBefore, "the answer came from token_states() rather than the consumer's statement")
                #expect(try await world.admin.scalar("SELECT email FROM order_service.users WHERE id = 4", as: String.self) == "direct@example.com")
            }
        }
    }

    @Test func aTokenKnownCommittedIsAnsweredByThePositionThatSeesItAndARolledBackOneIsNot() async throws {
        try await withOrderWorld { world in
            // The test applies by hand and tells the watch, as the consumer would; no recheck.
            let tokens = watch(world, recheck: .seconds(600))
            let applier = try await manualApplier(world)
            // This process applies, so the watch does not listen for another's positions.
            await tokens.positionStored(appliedEvents: true, position: try await applyAll(applier).position)

            // Committed before anyone waits for it, as a token from an HTTP answer always is.
            let committed = ConsistencyToken(try await write(world, "UPDATE user_service.users SET email = 'seen@example.com' WHERE id = 1"))!
            let answer = Task { try await tokens.wait(for: committed, timeout: .seconds(30)) }
            try await eventually { await tokens.waitingKnownCommitted == 1 }
            let checksBefore = await tokens.checks
            await tokens.positionStored(appliedEvents: true, position: try await applyAll(applier).position)
            #expect(try await answer.value == .applied)
            #expect(await tokens.checks == checksBefore, "answered by a query rather than by the position")

            // Running when checked, then rolled back: a position sees it finished, but only the
            // query can tell a rollback from a commit.
            let (open, token) = try await openUpdate(world, user: 2, email: "never@example.com")
            let rolledBack = ConsistencyToken(token)!
            let second = Task { try await tokens.wait(for: rolledBack, timeout: .seconds(30)) }
            try await eventually { await tokens.waiting == 1 }
            try await eventually { await tokens.checks > checksBefore }
            try await open.rollback()
            await tokens.positionStored(appliedEvents: true, position: try await applyAll(applier).position)
            #expect(try await second.value == .rolledBack)
        }
    }

    /// A check reads the stored position as of its own snapshot; a consumer that stores a newer one
    /// meanwhile (a request arriving while the consumer's statement runs) tells the watch first.
    /// The check then finds the token committed and pending, and the newer position the watch
    /// already heard of answers it at once, where it used to wait for the next check or position.
    @Test func aTokenACheckFindsCommittedIsAnsweredByAPositionHeardWhileItRan() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world, recheck: .seconds(600))
            await tokens.positionStored(appliedEvents: true, position: try await applyAll(try await manualApplier(world)).position)

            let committed = ConsistencyToken(try await write(world, "UPDATE user_service.users SET email = 'heard@example.com' WHERE id = 3"))!
            // A position that sees the write, which the stored one (read by the check) does not: as
            // if the consumer had committed it after the check took its snapshot.
            let newer = try #require(PostgresSnapshot(try await world.admin.scalar("SELECT pg_current_snapshot()::text", as: String.self)))
            await tokens.positionStored(appliedEvents: true, position: newer)
            let answer = try await tokens.wait(for: committed, timeout: .seconds(5))
            #expect(answer == .applied)
            #expect(await tokens.checks == 1)
        }
    }

    /// A request that arrives while the consumer's statement runs is not among the tokens it was
    /// given, and its own check is still out when the statement returns; the statement's list of
    /// the writes whose events it applied answers it then, without waiting for that check.
    @Test func aTokenWhoseEventsTheConsumersStatementAppliedIsAnsweredByItsResult() async throws {
        try await withOrderWorld { world in
            let tokens = watch(world, recheck: .seconds(600))
            let applier = try await manualApplier(world)
            await tokens.positionStored(appliedEvents: true, position: try await applyAll(applier).position)

            let token = ConsistencyToken(try await write(world, "UPDATE user_service.users SET email = 'listed@example.com' WHERE id = 2"))!
            let chunk = try await applyAll(applier)
            #expect(chunk.appliedTokens == [token])
            // The request's own check cannot finish meanwhile.
            let answer = try await whileChecksWait(world) {
                let answer = Task { try await tokens.wait(for: token, timeout: .seconds(30)) }
                try await eventually { await tokens.waiting == 1 }
                await tokens.positionStored(appliedEvents: true, position: chunk.position, applied: chunk.appliedTokens)
                try await eventually(timeout: .seconds(5), "answered while its check waits") { await tokens.waiting == 0 }
                return answer
            }
            #expect(try await answer.value == .applied)

            // A request that arrives once that answer is out needs no check either.
            let checksBefore = await tokens.checks
            #expect(try await tokens.wait(for: token, timeout: .seconds(5)) == .applied)
            #expect(await tokens.checks == checksBefore, "a token the consumer applied a moment ago was checked again")
        }
    }

    @Test func aStandbyAnswersATokenKnownCommittedFromTheNotificationAlone() async throws {
        try await withOrderWorld { world in
            try await world.catchUpAndStop()
            // Committed, not yet applied: the consumer is away.
            let token = ConsistencyToken(try await write(world, "UPDATE user_service.users SET email = 'heard@example.com' WHERE id = 3"))!
            let tokens = watch(world, recheck: .seconds(600))
            let answer = Task { try await tokens.wait(for: token, timeout: .seconds(30)) }
            try await eventually { await tokens.waitingKnownCommitted == 1 }
            try await waitUntilWatching(world)
            // The arrival's check and the one after the LISTEN.
            try await eventually { await tokens.checks >= 2 }
            let checksBefore = await tokens.checks
            await world.startConsumer()
            #expect(try await answer.value == .applied)
            #expect(await tokens.checks == checksBefore, "answered by a query rather than by the notification's position")
            await tokens.stop()
        }
    }

    /// The applying process's notification lists the tokens its chunk applied, so a standby
    /// answers those at once too, even while the request's own check is still out.
    @Test func aStandbyAnswersATokenTheNotificationListsWhileItsCheckWaits() async throws {
        try await withOrderWorld { world in
            try await world.catchUpAndStop()
            let token = ConsistencyToken(try await write(world, "UPDATE user_service.users SET email = 'listed@example.com' WHERE id = 3"))!
            let tokens = watch(world, recheck: .seconds(600))
            // The request's checks cannot finish meanwhile.
            let answer = try await whileChecksWait(world) {
                let answer = Task { try await tokens.wait(for: token, timeout: .seconds(30)) }
                try await waitUntilWatching(world)
                // What the applying process sends once its chunk applied the write.
                let position: String = try await world.admin.scalar("SELECT pg_current_snapshot()::text")
                try await world.admin.query("SELECT pg_notify($1, $2)", [TokenWatch.channel, "\(position) \(token) \(defaultConsumerName)"])
                try await eventually(timeout: .seconds(5), "answered while its check waits") { await tokens.waiting == 0 }
                return answer
            }
            #expect(try await answer.value == .applied)
            await tokens.stop()
        }
    }

    @Test func aStandbyAnswersOnTheApplyingConsumersNotification() async throws {
        try await withOrderWorld { world in
            // The consumer runs elsewhere (no watch of its own here): only its ecst_applied
            // notification can answer within the test.
            await world.startConsumer()
            try await world.waitUntilCaughtUp()
            let tokens = watch(world)
            let (open, token) = try await openUpdate(world, user: 3, email: "standby@example.com")
            try await withRouter(world, tokens: tokens) { client in
                let answered = Mailbox<HTTPResponse.Status>()
                let request = Task {
                    try await client.execute(uri: "/order-service/all", method: .get, headers: headers(after: token, wait: "30")) {
                        await answered.append($0.status)
                    }
                }
                try await waitUntilWatching(world)
                try await open.commit()
                // Well before the wait or the recheck: only the notification can answer in time.
                try await eventually("the answer") { await answered.count == 1 }
                try await request.value
                #expect(await answered.items == [.ok])
                #expect(try await world.admin.scalar("SELECT email FROM order_service.users WHERE id = 3", as: String.self) == "standby@example.com")
            }
        }
    }
}
