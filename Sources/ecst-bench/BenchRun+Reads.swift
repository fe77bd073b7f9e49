import Foundation
import PostgresTestSupport

/// The read path (issue 16): each service's GET endpoints under wrk against pgbench running the
/// statement the service runs for it (a psql user's cost of the same answer), with the service's
/// CPU per request, at 1 and 16 clients.
extension BenchRun {
    struct ReadEndpoint {
        var label: String
        var port: Int
        /// Lua: the request line's path, `id` a random user (or order) id.
        var path: String
        var sql: String
    }

    var readEndpoints: [ReadEndpoint] {
        let users = options.users
        return [
            ReadEndpoint(
                label: "GET /user-service/{id}", port: 18080, path: #"string.format("/user-service/%d", math.random(1, \#(users)))"#,
                sql: "\\set id random(1, \(users))\nSELECT id, firstname, lastname, email FROM user_service.users WHERE id = :id;"),
            ReadEndpoint(
                label: "GET /order-service/{id}", port: 18081, path: #"string.format("/order-service/%d", math.random(1, \#(users - 1)))"#,
                sql: "\\set id random(1, \(users - 1))\nSELECT order_service.order_document(id, doc)::text FROM order_service.purchase_orders WHERE id = :id;"
            ),
            ReadEndpoint(
                label: "GET /user-service (\(users) users)", port: 18080, path: #""/user-service""#,
                sql: """
                    SELECT coalesce(json_agg(json_build_object('id', id, 'firstname', firstname, 'lastname', lastname, 'email', email) ORDER BY id), '[]') FROM user_service.users;
                    """),
            ReadEndpoint(
                label: "GET /order-service/all (\(users - 1) orders)", port: 18081, path: #""/order-service/all""#,
                sql: """
                    SELECT coalesce(jsonb_agg(order_service.order_document(id, doc) ORDER BY id), '[]')::text FROM order_service.purchase_orders;
                    """),
        ]
    }

    func readPath(into results: inout BenchResults) async throws {
        try await startUserService()
        if orderService == nil { orderService = try await start("order-service", port: 18081, role: "order_service") }
        try await waitForLagZero(timeout: .seconds(600))
        let pids = [18080: userService?.pid, 18081: orderService?.pid]
        for (index, endpoint) in readEndpoints.enumerated() {
            let lua = scripts + "/read-\(index).lua"
            let sql = scripts + "/read-\(index).sql"
            try """
            math.randomseed(os.time())
            request = function() return wrk.format("GET", \(endpoint.path)) end
            """.write(toFile: lua, atomically: true, encoding: .utf8)
            try (endpoint.sql + "\n").write(toFile: sql, atomically: true, encoding: .utf8)
            if geteuid() == 0 { _ = try? LocalCluster.run("/bin/chmod", ["-R", "a+rX", scripts]) }
            guard let pid = pids[endpoint.port] ?? nil else { throw EndToEndError("no service on \(endpoint.port)") }
            for clients in [1, 16] {
                let measured = try compare(port: endpoint.port, pid: pid, lua: lua, sql: sql, clients: clients)
                results.readPath.append(.init(endpoint: endpoint.label, clients: clients, measured))
                log("  \(endpoint.label), \(clients) clients: \(measured.summary)")
            }
        }
    }
}
