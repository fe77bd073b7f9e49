import Foundation

public struct TimedOut: Error, CustomStringConvertible {
    public let description: String
}

/// Waits until `condition` holds, checking every few milliseconds, or throws after `timeout`.
/// The synchronisation primitive of the tests: never a bare sleep.
public func eventually(
    timeout: Duration = .seconds(10),
    _ what: @autoclosure () -> String = "condition",
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return }
        if clock.now >= deadline { throw TimedOut(description: "timed out after \(timeout) waiting for \(what())") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Collects values from another task so a test can wait for them with `eventually`.
public actor Mailbox<Element: Sendable> {
    public private(set) var items: [Element] = []

    public init() {}

    public func append(_ item: Element) { items.append(item) }

    public var count: Int { items.count }
}
