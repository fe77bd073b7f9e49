import Foundation
import PostgresTestSupport

extension BenchRun {
    /// `--phases compare --compare-with FOLDER`: this build's user-service and the one in FOLDER
    /// (another commit's release build), both running at once on the same database, `wrk`
    /// alternating between them in slices of `--compare-slice-seconds`, the order reversed every
    /// slice. Each side's CPU time and requests are summed over its slices, so a machine that
    /// speeds up or slows down meanwhile (these machines drift by more than most changes move the
    /// figures between whole runs) weighs on both alike.
    func compareBuilds(into results: inout BenchResults) async throws {
        guard let folder = options.compareWith else { throw EndToEndError("--phases compare needs --compare-with FOLDER") }
        try await startUserService()
        guard let this = userService else { throw EndToEndError("the user-service is not running") }
        let other = try await startUserService(port: 18081, in: folder)
        defer { other.signal(SIGKILL) }
        let sides = [(pid: this.pid, port: 18080), (pid: other.pid, port: 18081)]
        for clients in options.clients {
            let stealAtStart = HostSteal.now()
            var requests = [0, 0]
            var cpuSeconds = [0.0, 0.0]
            for side in sides {
                _ = try Tools.wrk(url: "http://127.0.0.1:\(side.port)", script: scripts + "/update.lua", clients: clients, seconds: 1)
            }
            for slice in 0..<options.compareSlices {
                for index in slice % 2 == 0 ? [0, 1] : [1, 0] {
                    let (result, cpu) = try Self.measureCPU(
                        port: sides[index].port, pid: sides[index].pid, script: scripts + "/update.lua", clients: clients,
                        seconds: options.compareSliceSeconds)
                    guard result.errors == 0 else { throw EndToEndError("a user-service answered \(result.errors) requests with errors") }
                    cpuSeconds[index] += cpu
                    requests[index] += result.requests
                }
            }
            let seconds = Double(options.compareSlices * options.compareSliceSeconds)
            let row = BenchResults.BuildComparisonRow(
                clients: clients,
                thisRPS: Double(requests[0]) / seconds,
                thisCPUMicrosecondsPerRequest: cpuSeconds[0] / Double(max(requests[0], 1)) * 1e6,
                otherRPS: Double(requests[1]) / seconds,
                otherCPUMicrosecondsPerRequest: cpuSeconds[1] / Double(max(requests[1], 1)) * 1e6,
                hostStealPercent: HostSteal.percent(since: stealAtStart)
            )
            results.buildComparison.append(row)
            log(
                "  \(clients) clients: this build \(Int(row.thisRPS)) req/s, \(Int(row.thisCPUMicrosecondsPerRequest)) us each; "
                    + "the other \(Int(row.otherRPS)) req/s, \(Int(row.otherCPUMicrosecondsPerRequest)) us each; "
                    + String(format: "CPU per request %.2fx", row.cpuRatio))
        }
    }
}
