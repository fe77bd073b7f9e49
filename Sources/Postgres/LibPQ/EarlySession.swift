import Foundation
import NIOConcurrencyHelpers

/// A listening session opened on a thread of its own before the listener that will take it
/// starts, so that a process's start builds the rest of itself while this session connects, runs
/// its setup and listens (docs/design.md#a-start-that-connects-while-it-builds).
///
/// `@unchecked Sendable`: the handle is written once by the opening thread and then handed, under
/// the lock, to exactly one taker (or dropped); nothing else touches it.
final class EarlySession: @unchecked Sendable {
    /// What the session was opened for; a listener takes it only for the same.
    struct Plan: Equatable {
        let applicationName: String
        let channels: [String]
        let setup: String?
        let setupParameters: [PostgresParameter]
    }

    /// A session as the opening thread left it.
    struct Opened {
        let handle: ConnectionHandle
        /// Set up and listening; false when its setup answered false (to be run again).
        let listening: Bool
    }

    private enum Outcome {
        case opening
        case opened(Opened?)
        case taken
    }

    let plan: Plan
    /// 0 while the thread opens the session, 1 once it is done.
    private let state = ConditionLock(value: 0)
    private var outcome = Outcome.opening

    /// Starts connecting at once, on a thread of its own (connecting blocks).
    init(plan: Plan, configuration: PostgresConfiguration) {
        self.plan = plan
        Thread.startNamed("pg-early") { [self] in
            // A failure is left to the taker, which connects again and reports it there.
            var opened: Opened?
            if let handle = try? ConnectionHandle(configuration: configuration) {
                let setup = plan.setup.map { ($0, plan.setupParameters) }
                let listening = try? ListenerThread.prepare(handle, channels: plan.channels, setup: setup, once: true) { false }
                if let listening { opened = Opened(handle: handle, listening: listening) }
            }
            state.lock()
            if case .opening = outcome { outcome = .opened(opened) }
            state.unlock(withValue: 1)
        }
    }

    /// Waits until the thread is done (blocking: call it on a thread that may block) and takes the
    /// session; nil when it could not be opened, or was taken or dropped before. Once only.
    func take() -> Opened? {
        state.lock(whenValue: 1)
        defer { state.unlock() }
        guard case .opened(let opened) = outcome else { return nil }
        outcome = .taken
        return opened
    }

    /// Closes the session unless taken: now, or (while it is being opened) as soon as it is.
    func drop() {
        state.lock()
        outcome = .taken
        state.unlock()
    }
}
