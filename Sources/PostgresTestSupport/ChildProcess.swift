import Foundation

/// An executable of this package run as a real child process, its output in a log file.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked Sendable: pid and paths are immutable; the exit status is behind a lock.
    public let pid: pid_t
    public let logPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// The folder holding the test bundle, where SwiftPM also puts this package's executables.
    public static var binDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    /// Starts `name` from `directory` (default: next to the running binary).
    public init(executable name: String, in directory: String? = nil, arguments: [String] = [], environment: [String: String]) throws {
        let path = (directory ?? Self.binDirectory) + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw EndToEndError("\(path) is missing: build the executables first (scripts/test does)")
        }
        logPath = FileManager.default.temporaryDirectory.path + "/ecst-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "DATABASE_URL")
        merged.merge(environment) { _, new in new }
        switch spawn(path, arguments: arguments, environment: merged, outputPath: logPath) {
        case .success(let pid): self.pid = pid
        case .failure(let error): throw EndToEndError("could not start \(path): error \(error.code)")
        }
    }

    deinit {
        if exitCode == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        unlink(logPath)
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// The exit code once the process has ended (128 + signal when killed), else nil.
    public var exitCode: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let signalled = status & 0x7f
        exitStatus = signalled == 0 ? (status >> 8) & 0xff : 128 + signalled
        return exitStatus
    }

    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        try await eventually(timeout: timeout, "process \(pid) to exit") { self.exitCode != nil }
        return exitCode ?? -1
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

public struct EndToEndError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
