import ArgumentParser
import Foundation
import Postgres
import PostgresTestSupport

/// `ecst-bench`: the project's benchmark. One run against a throwaway PostgreSQL with production
/// durability (fsync and synchronous_commit on), every figure next to a baseline measured in the
/// same run. See BENCHMARKS.md for the reproducing command and recorded results.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecst-bench",
        abstract: "The project's benchmark: both services against a durable throwaway PostgreSQL, every figure beside a baseline of the same run.",
        discussion: """
            Build first: swift build -c release --static-swift-stdlib (the services are started from the same folder, \
            built as the image builds them). scripts/bench does both.
            """
    )

    /// What a run measures and how long, as the phases read it (the defaults are the options').
    struct Options: Sendable {
        var seconds: Int
        var users: Int
        var catchUpUsers: Int
        var ordersPerUser: Int
        var rounds: Int
        /// Catch-ups measured one after another on the same data, each beside its own floor.
        var catchUpRepeats = 1
        var clients: [Int]
        var output: String
        var skipCatchUp: Bool
        var idleSeconds: Int
        var phases: Set<String>
        var shapes: [BenchRun.Shape]
        var skipOnOff: Bool
        var onOffRounds: Int
        /// pgbench's offered rate in the on/off runs; nil: full speed.
        var onOffRate: Int? = nil
        var writeRounds: Int
        var readYourWritesRates: [Int]
        /// Purchase orders per user in the read-your-writes phase (each applied write re-embeds them all).
        var readYourWritesOrdersPerUser = 1
        /// `pairs` (PairLoad, one event loop) or `async-http-client` (the phase's first client).
        var readYourWritesClient = "pairs"
        var peer: String
        /// `--phases compare`: the folder of the other build's user-service, and its slices.
        var compareWith: String? = nil
        var compareSlices = 10
        var compareSliceSeconds = 2
        /// Settings of the main cluster beyond the benchmark's own (`name=value`).
        var postgresSettings: [String] = []
    }

    static let allPhases: Set<String> = ["write", "compare", "read", "wake-ups", "split", "read-your-writes", "catch-up", "idle"]

    @Option(help: "Seconds per measured run.")
    var seconds = 20
    @Option(help: "Users for the write path and wake-ups phases.")
    var users = 10_000
    @Option(help: "Users for the catch-up phase (each updated --rounds times).")
    var catchUpUsers = 100_000
    @Option(help: "Purchase orders per user in the catch-up phase.")
    var ordersPerUser = 10
    @Option(help: "Updates per user in the catch-up phase.")
    var rounds = 10
    @Option(
        help: ArgumentHelp(
            "Catch-up phase: catch-ups in a row, each beside its floors; reports the repeat of the median ratio to the whole "
                + "work's floor from the catch-up's own starting state (of an even count, the higher).")
    )
    var catchUpRepeats = 1
    @Option(help: "Client counts for the write path, comma-separated.")
    var clients = "1,4,16,64"
    @Option(help: "Idle phase length in seconds.")
    var idleSeconds = 60
    @Option(help: "Phases to run, comma-separated: write, compare, read, wake-ups, split, read-your-writes, catch-up, idle.")
    var phases = "write,read,wake-ups,split,read-your-writes,catch-up,idle"
    @Option(help: "Wake-up shapes, comma-separated: orders per user, 's' for an active + standby order-service (0,0s,1,1s,10,10s).")
    var shapes = "0,0s,1,1s,10,10s"
    @Flag(help: "Wake-ups phase: measure propagation only, not NOTIFY's on/off cost.")
    var skipOnOff = false
    @Option(help: "Wake-ups phase: rounds of on/off runs per shape (each: on, 20 ms ticker, matched ticker; reversed every other round).")
    var onOffRounds = 2
    @Option(help: "Wake-ups phase: run the on/off pgbench at this offered rate (updates/s) instead of full speed; its CPU per update is then the figure.")
    var onOffRate: Int?
    @Option(help: "Write phase: rounds per client count of the service, pgbench and the peer, in rotating order; each ratio the median of the rounds'.")
    var writeRounds = 2
    @Option(help: "Read-your-writes phase: offered rates of PUT-then-GET pairs per second, comma-separated.")
    var readYourWritesRates = "100,1000"
    @Option(help: "Read-your-writes phase: purchase orders per user (at least 1; the GET reads each user's first).")
    var readYourWritesOrdersPerUser = 1
    @Option(help: "Read-your-writes phase: the load generator, pairs (one event loop, answers stamped as read) or async-http-client (the first one).")
    var readYourWritesClient = "pairs"
    @Flag(help: "Skip the catch-up phase.")
    var skipCatchUp = false
    @Option(help: "Folder for results.json.")
    var output = "bench-results"
    @Option(help: "A setting for the benchmark's PostgreSQL cluster, as name=value (repeatable), e.g. shared_buffers=1GB.")
    var postgresSetting: [String] = []
    @Option(help: "Write phase: the peer executable (Hummingbird + postgres-nio) measured beside the service; skipped when missing.")
    var peer = "benchmarks/peers/hummingbird-postgres-nio/.build/release/peer"

    @Option(
        help:
            "Compare phase: a folder holding another build's user-service (say, another commit's .build/release), run beside this one's while wrk alternates between them."
    )
    var compareWith: String?
    @Option(help: "Compare phase: slices per side and client count.")
    var compareSlices = 10
    @Option(help: "Compare phase: seconds per slice.")
    var compareSliceSeconds = 2

    func validate() throws {
        for setting in postgresSetting where !setting.contains("=") || setting.hasPrefix("=") {
            throw ValidationError("--postgres-setting takes name=value, got '\(setting)'")
        }
        for (name, value) in [
            ("--seconds", seconds), ("--users", users), ("--on-off-rounds", onOffRounds), ("--write-rounds", writeRounds),
            ("--catch-up-users", catchUpUsers), ("--rounds", rounds), ("--catch-up-repeats", catchUpRepeats), ("--idle-seconds", idleSeconds),
            ("--compare-slices", compareSlices), ("--compare-slice-seconds", compareSliceSeconds),
            ("--read-your-writes-orders-per-user", readYourWritesOrdersPerUser),
        ]
        where value < 1 {
            throw ValidationError("\(name) must be at least 1, got \(value)")
        }
        if let onOffRate, onOffRate < 1 { throw ValidationError("--on-off-rate must be at least 1, got \(onOffRate)") }
        if ordersPerUser < 0 { throw ValidationError("--orders-per-user must not be negative, got \(ordersPerUser)") }
        _ = try parsedClients()
        if try parsedPhases().contains("compare") {
            guard let compareWith else { throw ValidationError("--phases compare needs --compare-with FOLDER") }
            guard FileManager.default.isExecutableFile(atPath: compareWith + "/user-service") else {
                throw ValidationError("--compare-with: no user-service in '\(compareWith)'")
            }
        }
        _ = try parsedShapes()
        _ = try parsedRates()
        guard ["pairs", "async-http-client"].contains(readYourWritesClient) else {
            throw ValidationError("--read-your-writes-client takes pairs or async-http-client, got '\(readYourWritesClient)'")
        }
    }

    private func parsedRates() throws -> [Int] {
        try Self.positiveIntegers(readYourWritesRates, option: "--read-your-writes-rates")
    }

    private func parsedClients() throws -> [Int] {
        try Self.positiveIntegers(clients, option: "--clients")
    }

    /// A comma-separated list of positive integers, or the error naming `option`.
    private static func positiveIntegers(_ text: String, option: String) throws -> [Int] {
        let parts = text.split(separator: ",")
        let values = parts.compactMap { Int($0) }.filter { $0 > 0 }
        guard !values.isEmpty, values.count == parts.count else {
            throw ValidationError("\(option) takes positive integers separated by commas, got '\(text)'")
        }
        return values
    }

    private func parsedShapes() throws -> [BenchRun.Shape] {
        try shapes.split(separator: ",").map { part in
            let standby = part.hasSuffix("s")
            guard let orders = Int(standby ? part.dropLast() : part), orders >= 0 else {
                throw ValidationError("--shapes takes orders per user with an optional 's' for a standby (0,1s,10), got '\(part)'")
            }
            return BenchRun.Shape(ordersPerUser: orders, standby: standby)
        }
    }

    private func parsedPhases() throws -> Set<String> {
        let chosen = Set(phases.split(separator: ",").map(String.init))
        let unknown = chosen.subtracting(Self.allPhases)
        guard unknown.isEmpty, !chosen.isEmpty else {
            throw ValidationError(
                "--phases takes some of \(Self.allPhases.sorted().joined(separator: ", ")); unknown: \(unknown.sorted().joined(separator: ", "))")
        }
        return chosen
    }

    func run() async throws {
        let options = Options(
            seconds: seconds, users: users, catchUpUsers: catchUpUsers, ordersPerUser: ordersPerUser, rounds: rounds,
            catchUpRepeats: catchUpRepeats, clients: try parsedClients(), output: output, skipCatchUp: skipCatchUp, idleSeconds: idleSeconds,
            phases: try parsedPhases(),
            shapes: try parsedShapes(), skipOnOff: skipOnOff, onOffRounds: onOffRounds, onOffRate: onOffRate, writeRounds: writeRounds,
            readYourWritesRates: try parsedRates(), readYourWritesOrdersPerUser: readYourWritesOrdersPerUser,
            readYourWritesClient: readYourWritesClient, peer: peer, compareWith: compareWith, compareSlices: compareSlices,
            compareSliceSeconds: compareSliceSeconds,
            postgresSettings: postgresSetting
        )
        var results = BenchResults()
        let run = try await BenchRun(options: options)
        defer { run.stopAll() }
        /// Runs one phase and records the host's steal during it.
        func phase(_ name: String, _ body: (inout BenchResults) async throws -> Void) async throws {
            let start = HostSteal.now()
            try await body(&results)
            if let percent = HostSteal.percent(since: start) {
                results.hostStealPercentByPhase[name] = percent
                log(String(format: "  host steal during %@: %.1f %% of CPU time", name, percent))
            }
        }

        if options.phases.contains("write") {
            log("1/5 write path: PUT /user-service/update (wrk) vs pgbench, same SQL, and vs the Hummingbird + postgres-nio peer")
            try await phase("write") { try await run.writePath(into: &$0) }
        }
        if options.phases.contains("compare") {
            log("1c/5 this build's user-service against the one in \(options.compareWith ?? "-"), both running, wrk alternating")
            try await phase("compare") { try await run.compareBuilds(into: &$0) }
        }
        if options.phases.contains("read") {
            log("1b/5 read path: GET endpoints (wrk) vs pgbench running the same statements")
            try await phase("read") { try await run.readPath(into: &$0) }
        }
        if options.phases.contains("wake-ups") {
            log("2/5 wake-ups: NOTIFY's cost to writers and propagation against its floor, in \(options.shapes.count) shapes")
            try await phase("wake-ups") { try await run.wakeUps(into: &$0) }
        }
        if options.phases.contains("split") {
            log("2c/5 a database per service: propagation across two servers over logical replication, beside the single database's")
            try await phase("split") { try await run.split(into: &$0) }
        }
        if options.phases.contains("read-your-writes") {
            log(
                "2b/5 read your writes: PUT, then GET with ECST-After, at \(options.readYourWritesRates.map { "\($0)/s" }.joined(separator: ", ")), "
                    + "\(options.readYourWritesOrdersPerUser) order(s) per user"
            )
            try await phase("read-your-writes") { try await run.readYourWrites(into: &$0) }
        }
        if !options.skipCatchUp && options.phases.contains("catch-up") {
            log("3/5 catch-up of \(options.catchUpUsers * options.rounds) events")
            try await phase("catch-up") { try await run.catchUp(into: &$0) }
        }
        if options.phases.contains("idle") {
            log("4/5 an idle order-service for \(options.idleSeconds) s")
            try await phase("idle") { try await run.idle(into: &$0) }
        }
        log("5/5 resource use")
        results.usage = run.usage()
        try results.write(to: options.output)
        print(results.table())
        log("wrote \(options.output)/results.json")
    }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data("[ecst-bench] \(message)\n".utf8))
}
