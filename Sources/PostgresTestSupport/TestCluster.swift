import Foundation
import Postgres

/// One throwaway PostgreSQL cluster per test process: `initdb` into a temporary folder, started on
/// a free port (as the `postgres` OS user when running as root), stopped and deleted at exit.
/// When `DATABASE_URL` is set, that server is used instead and nothing is started.
public actor TestCluster {
    public static let shared = TestCluster()

    /// The cluster's superuser connection string, once started (or the failure to start it).
    private var started: Task<String, any Error>?

    private init() {}

    /// A superuser connection string for the cluster's `postgres` database.
    public func adminConnectionString() async throws -> String {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            return url
        }
        if let started { return try await started.value }
        let starting = Task { try await LocalCluster.start().url }
        started = starting
        return try await starting.value
    }
}

public struct TestClusterError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A PostgreSQL server process of the tests': `initdb` into a temporary folder whose name carries
/// the test process's pid (so a run that was killed is cleaned up by the next one), started on a
/// free port, as the `postgres` OS user when running as root. Stopped and deleted at exit.
public final class LocalCluster: @unchecked Sendable {
    // @unchecked Sendable: all fields are immutable after init.
    public let root: String
    public let port: Int
    private let bin: String

    /// Every cluster started by this process, stopped at exit.
    nonisolated(unsafe) private static var started: [LocalCluster] = []
    private static let lock = NSLock()

    /// A superuser URL for the cluster's `postgres` database.
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    /// Creates and starts a new cluster: with settings for fast tests (no fsync) by default, or
    /// with production durability (fsync and synchronous_commit on) plus `extraSettings`.
    public static func start(durable: Bool = false, extraSettings: [String] = []) async throws -> LocalCluster {
        try await startNew(durable: durable, extraSettings: extraSettings) { cluster in
            try Self.runAsOwner(
                cluster.bin + "/initdb",
                ["-D", cluster.root + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"]
            )
        }
    }

    /// Creates and starts a hot standby of `primary`: a base backup streaming its WAL
    /// (`pg_basebackup -R`), which replays from there on and answers read-only queries.
    public static func startStandby(of primary: LocalCluster) async throws -> LocalCluster {
        try await startNew(durable: primary.durable, extraSettings: primary.extraSettings) { standby in
            try Self.runAsOwner(
                standby.bin + "/pg_basebackup",
                ["-h", primary.root, "-p", "\(primary.port)", "-U", "postgres", "-D", standby.root + "/data", "-R", "-X", "stream", "-c", "fast"]
            )
        }
    }

    /// A new cluster, recorded to be stopped at exit, its data directory made by `makeData`, then
    /// started; off the cooperative pool, as are the other steps that wait for a tool.
    private static func startNew(
        durable: Bool, extraSettings: [String], makeData: @escaping @Sendable (LocalCluster) throws -> Void
    ) async throws -> LocalCluster {
        try await offThePool { try startNewBlocking(durable: durable, extraSettings: extraSettings, makeData: makeData) }
    }

    private static func startNewBlocking(durable: Bool, extraSettings: [String], makeData: (LocalCluster) throws -> Void) throws -> LocalCluster {
        lock.lock()
        defer { lock.unlock() }
        if started.isEmpty {
            removeStaleClusters()
            atexit { LocalCluster.stopAll() }
        }
        let cluster = try LocalCluster(index: started.count, durable: durable, extraSettings: extraSettings)
        started.append(cluster)
        try makeData(cluster)
        try cluster.startServerBlocking()
        return cluster
    }

    private let durable: Bool
    private let extraSettings: [String]

    private init(index: Int, durable: Bool, extraSettings: [String]) throws {
        self.durable = durable
        self.extraSettings = extraSettings
        bin = try Self.binDirectory()
        root = FileManager.default.temporaryDirectory.path + "/ecst-test-pg-\(getpid())-\(index)"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        if geteuid() == 0 {
            // initdb refuses to run as root.
            try Self.run("/bin/chown", ["-R", "postgres:postgres", root])
        }
        port = try Self.freePort()
    }

    /// Starts the server (again, after `stopServer`).
    public func startServer() async throws {
        try await offThePool { try self.startServerBlocking() }
    }

    private func startServerBlocking() throws {
        let speed = durable ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        let options =
            (["-p \(port)", "-k \(root)", "-c listen_addresses=127.0.0.1", "-c max_connections=300", "-c shared_buffers=128MB"]
            + speed + extraSettings.map { "-c \($0)" }).joined(separator: " ")
        try Self.runAsOwner(bin + "/pg_ctl", ["-D", root + "/data", "-l", root + "/server.log", "-o", options, "-w", "-t", "60", "start"])
    }

    /// Stops the server at once (clients see their connections drop), keeping its data.
    public func stopServer() async throws {
        try await offThePool { try Self.runAsOwner(self.bin + "/pg_ctl", ["-D", self.root + "/data", "-m", "fast", "-w", "stop"]) }
    }

    /// Crashes the server: every process quits at once, with no shutdown checkpoint and nothing
    /// more written; the next start recovers from the WAL, as after a power cut on a durable one.
    public func crashServer() async throws {
        try await offThePool { try self.crashServerBlocking() }
    }

    private func crashServerBlocking() throws {
        try Self.runAsOwner(bin + "/pg_ctl", ["-D", root + "/data", "-m", "immediate", "-w", "stop"])
    }

    private func remove() {
        try? crashServerBlocking()
        try? FileManager.default.removeItem(atPath: root)
    }

    private static func stopAll() {
        lock.lock()
        let clusters = started
        started = []
        lock.unlock()
        for cluster in clusters { cluster.remove() }
    }

    /// `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
    public static func binDirectory() throws -> String {
        if let out = try? capture("/usr/bin/env", ["pg_config", "--bindir"]),
            FileManager.default.fileExists(atPath: out + "/initdb")
        {
            return out
        }
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = "\(base)/\(version)/bin"
            if FileManager.default.fileExists(atPath: bin + "/initdb") { return bin }
        }
        throw TestClusterError("initdb not found: install PostgreSQL (apt-get install -y postgresql) or set DATABASE_URL")
    }

    private static func removeStaleClusters() {
        let tmp = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where name.hasPrefix("ecst-test-pg-") {
            let pidText = name.dropFirst("ecst-test-pg-".count).prefix { $0 != "-" }
            guard let pid = Int32(pidText), kill(pid, 0) != 0 else { continue }
            let root = tmp + "/" + name
            if let bin = try? binDirectory() {
                try? runAsOwner(bin + "/pg_ctl", ["-D", root + "/data", "-m", "immediate", "-w", "stop"])
            }
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClusterError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw TestClusterError("could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a PostgreSQL tool as the cluster's owner: the `postgres` OS user when we are root.
    private static func runAsOwner(_ tool: String, _ arguments: [String]) throws {
        if geteuid() == 0 {
            try run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
        } else {
            try run(tool, arguments)
        }
    }

    /// Runs a tool to completion with its output in a file: a pipe would stay open in the
    /// server that `pg_ctl start` leaves running, and `Process.waitUntilExit` can hang under
    /// Swift concurrency.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let outputPath = FileManager.default.temporaryDirectory.path + "/ecst-cmd-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(outputPath) }
        let pid: pid_t
        switch spawn(tool, arguments: arguments, environment: nil, outputPath: outputPath) {
        case .success(let child): pid = child
        case .failure(let error): throw TestClusterError("could not start \(tool): error \(error.code)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED && WEXITSTATUS == 0
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw TestClusterError("\(tool) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }

    private static func capture(_ tool: String, _ arguments: [String]) throws -> String {
        try run(tool, arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
public func freeTCPPort() throws -> Int {
    try LocalCluster.freePort()
}
