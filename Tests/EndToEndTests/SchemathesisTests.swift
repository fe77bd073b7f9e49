import Foundation
import PostgresTestSupport
import Testing

/// schemathesis's command, from PATH.
let schemathesisCommand: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/st") {
        return String(directory)
    }
    return nil
}()

/// scripts/test sets it, so that CI fails instead of skipping when schemathesis is missing.
let schemathesisRequired = ProcessInfo.processInfo.environment["ECST_REQUIRE_SCHEMATHESIS"] == "1"

@Suite("end to end: schemathesis fuzzes both services against their OpenAPI documents")
struct SchemathesisTests {
    @Test(.enabled(if: schemathesisCommand != nil || schemathesisRequired, "schemathesis (st) is not installed"))
    func noServerErrorAndNoResponseOutsideTheDocument() async throws {
        if let external = externalStack {
            try await fuzz(external.user)
            try await fuzz(external.order)
            return
        }
        try await withStack { stack in
            let users = try await stack.userService()
            let orders = try await stack.orderService()
            try await fuzz(users.http.baseURL)
            try await fuzz(orders.http.baseURL)
            // Whatever it sent, every event it caused was applicable and the orders still agree
            // with the source tables.
            try await waitForLagZero(orders)
            let deadLetters: Int = try await stack.admin.scalar("SELECT count(*) FROM order_service.dead_letters")
            #expect(deadLetters == 0)
            #expect(try await stack.inconsistentOrders() == 0)
        }
    }

    /// Every phase and check of `st run` on the service's own `/openapi.json`. The seed is fixed
    /// so that a CI run can be replayed (`ECST_SCHEMATHESIS_SEED` to vary it).
    func fuzz(_ baseURL: String) async throws {
        let directory = try #require(schemathesisCommand, "schemathesis is required (ECST_REQUIRE_SCHEMATHESIS=1) but `st` is not on PATH")
        let seed = ProcessInfo.processInfo.environment["ECST_SCHEMATHESIS_SEED"] ?? "20261125"
        let process = try ChildProcess(
            executable: "st",
            in: directory,
            arguments: [
                "--config-file", repositoryFile("schemathesis.toml"), "--no-color",
                "run", "\(baseURL)/openapi.json", "--url", baseURL,
                "--checks", "all", "--seed", seed, "--workers", "1",
            ],
            environment: ["NO_COLOR": "1"]
        )
        let status = try await process.waitForExit(timeout: .seconds(600))
        #expect(status == 0, "st run against \(baseURL) exited with \(status):\n\(process.log.suffix(6000))")
    }
}
