import Foundation

/// Runs `body` with spawn attributes that give the child an empty signal mask and default signal
/// handlers. posix_spawn otherwise passes on the calling thread's mask, and Swift's threads block
/// signals: a child would never see SIGALRM (pgbench -T runs forever) or SIGTERM.
func withCleanSpawnAttributes<R>(_ body: (UnsafePointer<posix_spawnattr_t>) throws -> R) rethrows -> R {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var all = sigset_t()
    sigfillset(&all)
    sigdelset(&all, SIGKILL)
    sigdelset(&all, SIGSTOP)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    return try body(&attributes)
}

/// Starts `path` with `arguments` and `environment` (nil: this process's), its standard input
/// /dev/null and its standard output and error written to `outputPath`, with clean signal
/// attributes. Returns the child's pid, or posix_spawn's error number.
func spawn(_ path: String, arguments: [String], environment: [String: String]?, outputPath: String) -> Result<pid_t, SpawnError> {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer {
        for pointer in argv { free(pointer) }
        for pointer in envp ?? [] { free(pointer) }
    }
    var pid: pid_t = 0
    let result = withCleanSpawnAttributes { attributes in
        if let envp { return posix_spawn(&pid, path, &actions, attributes, argv, envp) }
        return posix_spawn(&pid, path, &actions, attributes, argv, environ)
    }
    return result == 0 ? .success(pid) : .failure(SpawnError(code: result))
}

/// posix_spawn's error number.
struct SpawnError: Error {
    var code: Int32
}
