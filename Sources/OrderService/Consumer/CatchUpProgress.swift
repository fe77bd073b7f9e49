import Logging
import NIOConcurrencyHelpers

/// The log lines of a catch-up, a batch read in several chunks: one when it starts, then at most
/// one every `interval` with the events applied so far and their rate, and one when it ends with
/// its totals. A line per chunk made a ten-million-event catch-up write 2,000 of them, each saying
/// only "5000". A wake-up (a batch of one chunk) writes none. The time counts from the start of the
/// first chunk, which reads the whole batch (docs/design.md#reading-the-log-in-commit-order), and
/// the highest event id is the highest so far: a chunk's entities stand for events anywhere in it.
/// A batch's read commits alone, so the first line of a catch-up says how long the read took, with
/// nothing applied yet (and no rate).
/// A read that runs longer than `interval` (the first chunk of a long catch-up reads the whole
/// backlog: about 15 s for ten million events) says so every `interval` while it runs, so that the
/// log is not silent until that read ends.
public final class CatchUpProgress: Sendable {
    /// What to log: `message` at `info`, with `metadata`.
    public struct Line: Equatable, Sendable {
        public var message: String
        public var metadata: [String: String]
    }

    private struct Batch {
        var started: ContinuousClock.Instant
        var lastLine: ContinuousClock.Instant
        var events = 0
        var orders = 0
        var chunks = 0
        var highestEventID: Int64?
    }

    public let interval: Duration
    // Both the listening session's reactions and the apply loop's drains report here; only one of
    // them reads at a time, the lock keeps the counts whole if a hand-over overlaps.
    private let batch = NIOLockedValueBox<Batch?>(nil)
    /// When the last `still reading` line was logged.
    private let lastReadLine = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    public init(interval: Duration = .seconds(5)) {
        self.interval = interval
    }

    /// After each applied chunk, which took `elapsed`; `more` says the batch goes on. Returns the
    /// line to log, if any.
    public func chunkApplied(
        events: Int, orders: Int, highestEventID: Int64?, more: Bool, elapsed: Duration = .zero, now: ContinuousClock.Instant = .now
    ) -> Line? {
        batch.withLockedValue { batch in
            let starting = batch == nil
            if starting {
                guard more else { return nil }
                batch = Batch(started: now - elapsed, lastLine: now)
            }
            batch!.events += events
            batch!.orders += orders
            batch!.chunks += 1
            if let highestEventID { batch!.highestEventID = max(batch!.highestEventID ?? highestEventID, highestEventID) }
            if !more {
                defer { batch = nil }
                return Line(message: "caught up", metadata: Self.metadata(of: batch!, now: now))
            }
            guard starting || now - batch!.lastLine >= interval else { return nil }
            batch!.lastLine = now
            return Line(message: "catching up", metadata: Self.metadata(of: batch!, now: now))
        }
    }

    /// Asked while a read runs, which has run for `running` so far: a `still reading` line once it
    /// has run for `interval`, and then at most one every `interval`, with how long it has run
    /// and, in a batch, the batch's counts so far.
    public func reading(for running: Duration, now: ContinuousClock.Instant = .now) -> Line? {
        guard running >= interval else { return nil }
        let due = lastReadLine.withLockedValue { last in
            guard last.map({ now - $0 >= interval }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return nil }
        var metadata = batch.withLockedValue { $0.map { Self.metadata(of: $0, now: now) } } ?? [:]
        metadata["reading_seconds"] = Self.tenths(Self.seconds(running))
        return Line(message: "still reading", metadata: metadata)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func tenths(_ seconds: Double) -> String {
        "\((seconds * 10).rounded() / 10)"
    }

    private static func metadata(of batch: Batch, now: ContinuousClock.Instant) -> [String: String] {
        let seconds = Self.seconds(now - batch.started)
        var metadata = [
            "applied": "\(batch.events)", "orders": "\(batch.orders)", "chunks": "\(batch.chunks)",
            "seconds": tenths(seconds),
            "highest_event_id": "\(batch.highestEventID ?? 0)",
        ]
        if seconds > 0, batch.events > 0 { metadata["events_per_second"] = "\(Int((Double(batch.events) / seconds).rounded()))" }
        return metadata
    }
}
