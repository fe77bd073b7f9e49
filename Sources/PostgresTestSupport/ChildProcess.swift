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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "DATABASE_URL")
        merged.merge(environment) { _, new in new }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = withCleanSpawnAttributes { posix_spawn(&pid, path, &actions, $0, argv, envp) }
        guard result == 0 else { throw EndToEndError("could not start \(path): error \(result)") }
        self.pid = pid
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
