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
