import Foundation
import Postgres
import PostgresTestSupport

/// `ecst-bench`: the project's benchmark. One run against a throwaway PostgreSQL with production
/// durability (fsync and synchronous_commit on), every figure next to a baseline measured in the
/// same run. See BENCHMARKS.md for the reproducing command and recorded results.
@main
struct Bench {
    struct Options {
        var seconds = 20
        var users = 10_000
        var catchUpUsers = 100_000
        var ordersPerUser = 10
        var rounds = 10
        var clients = [1, 4, 16, 64]
        var output = "bench-results"
        var skipCatchUp = false
        var idleSeconds = 60
        var phases: Set<String> = ["write", "wake-ups", "catch-up", "idle"]

        static func parse(_ arguments: [String]) -> Options {
            var options = Options()
            var iterator = arguments.makeIterator()
            while let argument = iterator.next() {
                func value() -> String { iterator.next() ?? "" }
                switch argument {
                case "--seconds": options.seconds = Int(value()) ?? options.seconds
                case "--users": options.users = Int(value()) ?? options.users
                case "--catch-up-users": options.catchUpUsers = Int(value()) ?? options.catchUpUsers
                case "--orders-per-user": options.ordersPerUser = Int(value()) ?? options.ordersPerUser
                case "--rounds": options.rounds = Int(value()) ?? options.rounds
                case "--idle-seconds": options.idleSeconds = Int(value()) ?? options.idleSeconds
                case "--clients": options.clients = value().split(separator: ",").compactMap { Int($0) }
                case "--output": options.output = value()
                case "--skip-catch-up": options.skipCatchUp = true
                case "--phases": options.phases = Set(value().split(separator: ",").map(String.init))
                case "--help", "-h":
                    print(
                        """
                        usage: ecst-bench [--seconds 20] [--clients 1,4,16,64] [--users 10000]
                                          [--catch-up-users 100000] [--orders-per-user 10] [--rounds 10]
                                          [--skip-catch-up] [--idle-seconds 60]
                                          [--phases write,wake-ups,catch-up,idle]
                                          [--output bench-results]
                        Build first: swift build -c release (the services are started from the same folder).
                        """
                    )
                    exit(0)
                default:
                    FileHandle.standardError.write(Data("unknown argument \(argument); see --help\n".utf8))
                    exit(2)
                }
            }
            return options
        }
    }

    static func main() async throws {
        let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
        var results = BenchResults()
        let run = try await BenchRun(options: options)
        defer { run.stopAll() }

        if options.phases.contains("write") {
            log("1/5 write path: PUT /user-service/update (wrk) vs pgbench, same SQL")
            try await run.writePath(into: &results)
        }
        if options.phases.contains("wake-ups") {
            log("2/5 wake-ups: NOTIFY's cost to writers and propagation against its floor, in \(BenchRun.shapes.count) shapes")
            try await run.wakeUps(into: &results)
        }
        if !options.skipCatchUp && options.phases.contains("catch-up") {
            log("3/5 catch-up of \(options.catchUpUsers * options.rounds) events")
            try await run.catchUp(into: &results)
        }
        if options.phases.contains("idle") {
            log("4/5 an idle order-service for \(options.idleSeconds) s")
            try await run.idle(into: &results)
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
