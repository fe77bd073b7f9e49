import Foundation
import Postgres
import PostgresTestSupport
import ServiceTestSupport
import Testing

/// When set, the suite runs against that running stack (docker compose's integration-tests) and
/// skips the tests that must start, kill or restart processes.
let externalStack: (user: String, order: String)? = {
    let env = ProcessInfo.processInfo.environment
    guard let user = env["USER_SERVICE_URL"], let order = env["ORDER_SERVICE_URL"], !user.isEmpty, !order.isEmpty else { return nil }
    return (user, order)
}()

let runsProcesses = externalStack == nil

/// A service started as a real process on a free port.
final class RunningService: Sendable {
    let process: ChildProcess
    let http: HTTP
    let port: Int

    init(process: ChildProcess, http: HTTP, port: Int) {
        self.process = process
        self.http = http
        self.port = port
    }

    static func start(_ executable: String, databaseURL: String, role: String, extra: [String: String] = [:]) async throws -> RunningService {
        let port = try freeTCPPort()
        var environment = ["DATABASE_URL": databaseURL, "DATABASE_USER": role, "HOST": "127.0.0.1", "PORT": "\(port)", "LOG_LEVEL": "info"]
        environment.merge(extra) { _, new in new }
        let process = try ChildProcess(executable: executable, environment: environment)
        let service = RunningService(process: process, http: HTTP(port: port), port: port)
        try await eventually(timeout: .seconds(30), "\(executable) to answer /health") {
            if let code = process.exitCode { throw EndToEndError("\(executable) exited with \(code): \(process.log)") }
            return await service.http.healthy()
        }
        return service
    }
}

/// One test's database (with schema.sql) and a superuser client on it.
struct Stack: Sendable {
    let admin: PostgresClient
    let databaseURL: String

    func userService(extra: [String: String] = [:]) async throws -> RunningService {
        try await RunningService.start("user-service", databaseURL: databaseURL, role: "user_service", extra: extra)
    }

    func orderService(extra: [String: String] = [:]) async throws -> RunningService {
        try await RunningService.start("order-service", databaseURL: databaseURL, role: "order_service", extra: extra)
    }

    /// Holds a catch-up in the middle rather than racing it: `hold` runs in a transaction left
    /// open, taking a replica row that a later chunk's upsert then waits for, and an order-service
    /// with chunks of 500 entities is started and killed (SIGKILL) once it waits there. Returns the
    /// open transaction; the killed process's backend, still waiting, may finish its chunk once
    /// that ends (position and effects commit together either way).
    func orderServiceKilledWhileWaiting(on hold: String) async throws -> OpenTransaction {
        let blocker = Mailbox<Int32>()
        let held = try await OpenTransaction.begin(on: .init(connectionString: databaseURL)) { tx in
            let pid = try await tx.query("SELECT pg_backend_pid()")[0].decode(0, as: Int32.self)
            await blocker.append(pid)
            try await tx.query(hold)
        }
        let blockerPID = try #require(await blocker.items.first)
        let doomed = try await orderService(extra: ["CONSUMER_CHUNK_SIZE": "500"])
        try await eventually(timeout: .seconds(60), "the catch-up to wait for the held replica row") {
            try await admin.scalar(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name LIKE 'order-service%' AND $1 = ANY (pg_blocking_pids(pid))",
                [blockerPID]
            )
        }
        doomed.process.signal(SIGKILL)
        #expect(try await doomed.process.waitForExit() == 128 + SIGKILL)
        return held
    }

    /// Orders whose embedded user or product differs from user_service's tables.
    func inconsistentOrders() async throws -> Int {
        try await SourceConsistency.inconsistentOrders(admin)
    }

    /// schema.sql applied again to the stack's database, as an upgrade or `docker compose up` does
    /// (psql on a thread of its own, so that the test's other tasks go on meanwhile).
    func applySchema() async throws {
        try await SQLFile.apply(schemaPath, connectionString: databaseURL)
    }

    /// Waits for the consumer to catch up, and expects it to have applied each event of the log
    /// once and every order to match user_service's tables.
    func expectCaughtUpApplyingEachEventOnce(_ orders: RunningService) async throws {
        try await waitForLagZero(orders)
        let events: Int = try await admin.scalar("SELECT count(*)::int FROM user_service.events")
        let applied: Int = try await admin.scalar("SELECT applied_events::int FROM order_service.consumer_positions")
        #expect(applied == events)
        #expect(try await inconsistentOrders() == 0)
    }
}

let schemaPath = repositoryFile("schema.sql")

/// A stack on a PostgreSQL cluster of its own, for tests that stop or restart the server (doing
/// that to the shared one would disturb the other tests).
/// `durable`: fsync and synchronous commits on, as in production (the throwaway clusters run
/// without them for speed), for tests that crash the server.
func withStackOnItsOwnCluster(durable: Bool = false, _ body: (Stack, LocalCluster) async throws -> Void) async throws {
    let cluster = try await LocalCluster.start(durable: durable)
    try await PostgresClient.withClient(configuration: .init(connectionString: cluster.url)) { bootstrap in
        _ = try await bootstrap.query("CREATE DATABASE ecst")
    }
    let url = "postgresql://postgres@127.0.0.1:\(cluster.port)/ecst"
    try await SQLFile.apply(schemaPath, connectionString: url)
    try await PostgresClient.withClient(configuration: .init(connectionString: url)) { database in
        try await body(Stack(admin: database, databaseURL: url), cluster)
    }
}

func withStack(_ body: @Sendable (Stack) async throws -> Void) async throws {
    let template = try await TestDatabases.shared.template(applyingSQLFile: schemaPath)
    try await TestDatabases.shared.withClient(template: template) { admin, database in
        try await body(Stack(admin: admin, databaseURL: try database.urlForChildProcesses()))
    }
}

extension TestDatabase {
    /// A URL naming this database, for processes that take only DATABASE_URL.
    func urlForChildProcesses() throws -> String {
        guard var components = URLComponents(string: connectionString) else { throw EndToEndError("unparsable URL") }
        components.path = "/" + name
        return components.string ?? connectionString
    }
}

struct ConsumerReply: Decodable {
    var position: Int64
    var head: Int64
    var lag: Int
}

struct OrderReply: Decodable {
    struct User: Decodable {
        var id: Int64
        var firstname: String
        var lastname: String
        var email: String
    }
    var id: String
    var user: User
    var price: Int
}

/// Waits for the order-service to report lag 0. On a timeout the error carries what the service
/// last reported and the end of its log, which the harness deletes with the process: a timeout
/// seen once in CI is then diagnosable from CI's output alone.
func waitForLagZero(_ orders: RunningService, timeout: Duration = .seconds(60)) async throws {
    var status = "no answer"
    do {
        try await eventually(timeout: timeout, "lag 0") {
            if let code = orders.process.exitCode { throw EndToEndError("the order-service exited with \(code)") }
            guard let reply = try? await orders.http.get("/order-service/consumer") else { return false }
            status = "\(reply.status) \(reply.body)"
            return reply.status == 200 ? try reply.json(ConsumerReply.self).lag == 0 : false
        }
    } catch {
        let tail = orders.process.log.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
        throw EndToEndError("\(error); /order-service/consumer last answered: \(status); the log's end:\n\(tail)")
    }
}
