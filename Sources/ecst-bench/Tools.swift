import Foundation
import PostgresTestSupport

/// The external programs the benchmark drives, and how their output is read.
enum Tools {
    /// The writers' own view of a run: pgbench's latency per transaction, p50 and p99 in ms.
    struct WriterLatency: Codable {
        var p50ms: Double
        var p99ms: Double
    }

    /// pgbench at an offered rate, with its per-transaction log (`-l`, in `logFolder`, removed
    /// after): at an offered rate pgbench counts from each transaction's scheduled start, so a
    /// commit held up (a slow WAL flush: every commit queued behind it waits too) counts in full.
    /// `writers` is nil if the log holds no transaction.
    static func pgbenchLatencies(
        _ bin: String, url: String, script: String, clients: Int, seconds: Int, rate: Int, logFolder: String
    ) throws -> (tps: Double, writers: WriterLatency?) {
        let prefix = logFolder + "/pgbench-\(UInt32.random(in: 0...UInt32.max))"
        let tps = try pgbench(bin, url: url, script: script, clients: clients, seconds: seconds, rate: rate, logPrefix: prefix)
        let folder = URL(fileURLWithPath: logFolder)
        let logs = try FileManager.default.contentsOfDirectory(atPath: logFolder).filter { ("\(logFolder)/" + $0).hasPrefix(prefix + ".") }
        defer { for name in logs { try? FileManager.default.removeItem(at: folder.appendingPathComponent(name)) } }
        // "client_id transaction_no time script_no time_epoch time_us": time is the latency in us.
        var latencies: [Double] = []
        for name in logs {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count > 2, let us = Double(fields[2]) { latencies.append(us / 1000) }
            }
        }
        return (tps, latencies.p50AndP99.map { WriterLatency(p50ms: $0.p50, p99ms: $0.p99) })
    }

    /// pgbench's "tps = N (without initial connection time)"; with `logPrefix`, its
    /// per-transaction log (`-l`) under that prefix.
    static func pgbench(
        _ bin: String, url: String, script: String, clients: Int, seconds: Int, rate: Int? = nil, logPrefix: String? = nil
    ) throws -> Double {
        var arguments = ["-n", "-M", "prepared", "-f", script, "-c", "\(clients)", "-j", "\(min(clients, 2))", "-T", "\(seconds)"]
        if let rate { arguments += ["-R", "\(rate)"] }
        if let logPrefix { arguments += ["-l", "--log-prefix", logPrefix] }
        let output = try LocalCluster.run(bin + "/pgbench", arguments + [url])
        guard let tps = firstNumber(after: "tps = ", in: output) else { throw EndToEndError("pgbench printed no tps: \(output)") }
        return tps
    }

    struct WrkResult: Codable {
        var requestsPerSecond: Double
        /// Responses counted by wrk over the run (errors included).
        var requests: Int
        var p50ms: Double
        var p99ms: Double
        var errors: Int
    }

    static func wrk(url: String, script: String, clients: Int, seconds: Int) throws -> WrkResult {
        let output = try LocalCluster.run(
            "/usr/bin/wrk",
            ["-t", "\(min(clients, 2))", "-c", "\(clients)", "-d", "\(seconds)s", "--latency", "-s", script, url]
        )
        guard let rps = firstNumber(after: "Requests/sec:", in: output) else { throw EndToEndError("wrk printed no rate: \(output)") }
        let errors =
            Int(firstNumber(after: "Non-2xx or 3xx responses:", in: output) ?? 0)
            + Int(firstNumber(after: "Socket errors: connect", in: output) ?? 0)
        // "  12345 requests in 10.00s, ..." (the line's first number).
        let requests =
            output.split(separator: "\n").first { $0.contains(" requests in ") }
            .flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
        return WrkResult(
            requestsPerSecond: rps,
            requests: requests,
            p50ms: latency(" 50%", in: output) ?? .nan,
            p99ms: latency(" 99%", in: output) ?? .nan,
            errors: errors
        )
    }

    /// wrk prints "    99%    1.23ms" (or us / s).
    static func latency(_ label: String, in output: String) -> Double? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix(" ") && $0.contains(label + " ") }) else { return nil }
        let parts = line.split(separator: " ")
        guard let value = parts.last else { return nil }
        let text = String(value)
        if text.hasSuffix("us"), let v = Double(text.dropLast(2)) { return v / 1000 }
        if text.hasSuffix("ms"), let v = Double(text.dropLast(2)) { return v }
        if text.hasSuffix("s"), let v = Double(text.dropLast(1)) { return v * 1000 }
        return nil
    }

    static func firstNumber(after marker: String, in text: String) -> Double? {
        guard let range = text.range(of: marker) else { return nil }
        let rest = text[range.upperBound...].drop { $0 == " " }
        return Double(rest.prefix { $0.isNumber || $0 == "." })
    }
}

/// Peak RSS and CPU time of a process, from /proc.
struct ProcessUsage: Codable {
    var peakRSSMegabytes: Double
    var cpuSeconds: Double

    static func read(pid: Int32) -> ProcessUsage {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let hwm =
            status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Double($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
        let afterName = stat.split(separator: ")").last.map { $0.split(separator: " ") } ?? []
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let utime = afterName.count > 12 ? Double(afterName[11]) ?? 0 : 0
        let stime = afterName.count > 12 ? Double(afterName[12]) ?? 0 : 0
        return ProcessUsage(peakRSSMegabytes: hwm / 1024, cpuSeconds: (utime + stime) / ticks)
    }
}
