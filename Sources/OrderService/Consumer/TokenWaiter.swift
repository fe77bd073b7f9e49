import NIOConcurrencyHelpers

/// One request's wait for its token, answered once by whichever comes first: the consumer's result
/// on its listener's thread (`TokenWatch.answerAtOnce`), the watch's own check or announcement, the
/// deadline, or a cancellation. Later answers do nothing.
final class TokenWaiter: Sendable {
    private let continuation: NIOLockedValueBox<CheckedContinuation<ConsistencyToken.State, any Error>?>

    init(_ continuation: CheckedContinuation<ConsistencyToken.State, any Error>) {
        self.continuation = NIOLockedValueBox(continuation)
    }

    func resume(returning state: ConsistencyToken.State) {
        take()?.resume(returning: state)
    }

    func resume(throwing error: any Error) {
        take()?.resume(throwing: error)
    }

    private func take() -> CheckedContinuation<ConsistencyToken.State, any Error>? {
        continuation.withLockedValue { continuation in
            defer { continuation = nil }
            return continuation
        }
    }
}
