import Foundation
import PostgresTestSupport
import Testing

@Suite("end to end: the ecst command line")
struct EcstCommandTests {
    /// Runs `ecst` with `arguments`; its exit status and output (stdout and stderr).
    func ecst(_ arguments: [String], databaseURL: String?) async throws -> (status: Int32, output: String) {
        let process = try ChildProcess(executable: "ecst", arguments: arguments, environment: databaseURL.map { ["DATABASE_URL": $0] } ?? [:])
        let status = try await process.waitForExit(timeout: .seconds(60))
        return (status, process.log)
    }

    @Test(.enabled(if: runsProcesses)) func helpAndClearErrors() async throws {
        let help = try await ecst(["--help"], databaseURL: nil)
        #expect(help.status == 0)
        for command in ["status", "token", "dead-letters", "rebuild", "prune", "replication"] { #expect(help.output.contains(command)) }
        let badToken = try await ecst(["token", "x12"], databaseURL: nil)
        #expect(badToken.status != 0)
        #expect(badToken.output.contains("'x12' is not a consistency token"))
        let pruneHelp = try await ecst(["prune", "--help"], databaseURL: nil)
        #expect(pruneHelp.output.contains("--keep"))

        let noURL = try await ecst(["status"], databaseURL: nil)
        #expect(noURL.status != 0)
        #expect(noURL.output.contains("DATABASE_URL"))

        let unreachable = try await ecst(["status"], databaseURL: "postgresql://nobody:s3cret@127.0.0.1:1/none")
        #expect(unreachable.status == 1)
        #expect(unreachable.output.contains("ecst: cannot use the database at postgresql://nobody:***@127.0.0.1:1/none"))
        #expect(!unreachable.output.contains("s3cret"))

        let garbage = try await ecst(["status"], databaseURL: "postgresql://[broken")
        #expect(garbage.status == 1)
        #expect(garbage.output.contains("ecst: cannot use the database"))

        let badKeep = try await ecst(["prune", "--keep", "soon"], databaseURL: nil)
        #expect(badKeep.status != 0)
        #expect(badKeep.output.contains("'soon' is not a duration"))
    }

    @Test(.enabled(if: runsProcesses)) func statusRebuildAndPruneAgainstARunningSystem() async throws {
        try await withStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            for i in 1...4 {
                let reply = try await users.http.put("/user-service/update", #"{"id": 1, "firstname": "Neha", "lastname": "P\#(i)", "email": "n@example.com"}"#)
                #expect(reply.status == 200)
            }
            try await waitForLagZero(orders)

            let written = try await users.http.put("/user-service/update", #"{"id": 1, "firstname": "Neha", "lastname": "P5", "email": "n@example.com"}"#)
            let token = try #require(written.headers["ecst-token"])
            try await eventually("ecst token to say applied") {
                let answer = try await ecst(["token", token], databaseURL: stack.databaseURL)
                return answer.status == 0 && answer.output.contains("applied")
            }
            let unknown = try await ecst(["token", "--json", "9223372036854775000"], databaseURL: stack.databaseURL)
            #expect(unknown.status == 4, "\(unknown.output)")
            #expect(unknown.output.contains(#""state" : "unknown""#))
            try await waitForLagZero(orders)

            let status = try await ecst(["status", "--json"], databaseURL: stack.databaseURL)
            #expect(status.status == 0, "\(status.output)")
            #expect(status.output.contains(#""server" : "single""#))
            // A server without logical decoding cannot publish, and says why (a DATABASE_URL server
            // with it is left alone: publishing there would leave a slot behind).
            let walLevel: String = try await stack.admin.scalar("SELECT current_setting('wal_level')")
            if walLevel != "logical" {
                let publish = try await ecst(["replication", "publish", "--replication-password", "x"], databaseURL: stack.databaseURL)
                #expect(publish.status == 1)
                #expect(publish.output.contains("set wal_level = logical"), "\(publish.output)")
            }
            #expect(status.output.contains(#""consumer" : "order-service""#))
            #expect(status.output.contains(#""lag" : 0"#))

            try await stack.admin.query("UPDATE order_service.purchase_orders SET doc = doc || '{\"user\": {}}'")
            let rebuild = try await ecst(["rebuild"], databaseURL: stack.databaseURL)
            #expect(rebuild.status == 0, "\(rebuild.output)")
            #expect(rebuild.output.contains("1 orders, 1 changed"))
            #expect(try await stack.inconsistentOrders() == 0)

            let prune = try await ecst(["prune", "--keep", "0s"], databaseURL: stack.databaseURL)
            #expect(prune.status == 0, "\(prune.output)")
            #expect(prune.output.contains("deleted 5 event(s)"))

            let letters = try await ecst(["dead-letters", "list"], databaseURL: stack.databaseURL)
            #expect(letters.output.contains("no dead letters"))
            _ = users
        }
    }
}
