import OrderService
import Testing

/// A catch-up's log lines: a start, then at most one per interval, then the totals; nothing for a
/// wake-up.
@Suite("the catch-up's progress lines")
struct CatchUpProgressTests {
    @Test func aCatchUpLogsItsStartAtMostOneLinePerIntervalAndItsTotals() throws {
        let progress = CatchUpProgress(interval: .seconds(5))
        let start = ContinuousClock.now
        func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1_000)) }

        let first = try #require(progress.chunkApplied(events: 5_000, orders: 50_000, highestEventID: 5_000, more: true, now: at(0)))
        #expect(first.message == "catching up")
        #expect(first.metadata["applied"] == "5000")
        #expect(first.metadata["chunks"] == "1")

        // Within the interval: counted, not logged.
        #expect(progress.chunkApplied(events: 5_000, orders: 50_000, highestEventID: 10_000, more: true, now: at(2)) == nil)
        #expect(progress.chunkApplied(events: 5_000, orders: 0, highestEventID: 15_000, more: true, now: at(4.9)) == nil)

        let second = try #require(progress.chunkApplied(events: 5_000, orders: 0, highestEventID: 20_000, more: true, now: at(5)))
        #expect(second.message == "catching up")
        #expect(second.metadata["applied"] == "20000")
        #expect(second.metadata["orders"] == "100000")
        #expect(second.metadata["events_per_second"] == "4000")
        #expect(second.metadata["highest_event_id"] == "20000")
        #expect(progress.chunkApplied(events: 5_000, orders: 0, highestEventID: 25_000, more: true, now: at(9)) == nil)

        let last = try #require(progress.chunkApplied(events: 1_234, orders: 0, highestEventID: 26_234, more: false, now: at(10)))
        #expect(last.message == "caught up")
        #expect(last.metadata["applied"] == "26234")
        #expect(last.metadata["chunks"] == "6")
        #expect(last.metadata["seconds"] == "10.0")

        // The next batch starts afresh.
        let next = try #require(progress.chunkApplied(events: 5_000, orders: 0, highestEventID: 31_234, more: true, now: at(60)))
        #expect(next.metadata["applied"] == "5000")
    }

    /// The first chunk reads the whole batch: its time counts. A chunk's entities stand for events
    /// anywhere in the batch: the highest id is the highest so far, not the chunk's.
    @Test func theFirstChunksTimeCountsAndTheHighestEventIDIsTheHighestSoFar() throws {
        let progress = CatchUpProgress(interval: .seconds(5))
        let start = ContinuousClock.now
        func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1_000)) }

        let first = try #require(
            progress.chunkApplied(events: 50_000, orders: 5_000, highestEventID: 900_000, more: true, elapsed: .seconds(3), now: at(3)))
        #expect(first.metadata["seconds"] == "3.0")
        #expect(first.metadata["events_per_second"] == "16667")
        #expect(first.metadata["highest_event_id"] == "900000")
        let second = try #require(progress.chunkApplied(events: 50_000, orders: 5_000, highestEventID: 800_000, more: true, now: at(8)))
        #expect(second.metadata["highest_event_id"] == "900000")
        let last = try #require(progress.chunkApplied(events: 50_000, orders: 5_000, highestEventID: 950_000, more: false, now: at(9)))
        #expect(last.metadata["highest_event_id"] == "950000")
        #expect(last.metadata["seconds"] == "9.0")
    }

    /// A batch's read commits alone (docs/design.md#reading-the-log-in-commit-order): the first line
    /// says how long it took, with nothing applied and no rate; the rate comes with the chunks.
    @Test func theReadsLineHasNoRate() throws {
        let progress = CatchUpProgress(interval: .seconds(5))
        let start = ContinuousClock.now
        func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1_000)) }

        let read = try #require(progress.chunkApplied(events: 0, orders: 0, highestEventID: nil, more: true, elapsed: .seconds(2), now: at(2)))
        #expect(read.message == "catching up")
        #expect(read.metadata["applied"] == "0")
        #expect(read.metadata["seconds"] == "2.0")
        #expect(read.metadata["events_per_second"] == nil)
        let last = try #require(progress.chunkApplied(events: 40_000, orders: 4_000, highestEventID: 40_000, more: false, now: at(4)))
        #expect(last.metadata["events_per_second"] == "10000")
    }

    /// A read that runs long (the first chunk of a long catch-up reads the whole backlog) says so
    /// once it has run for the interval, then at most once an interval; in a batch, with its counts.
    @Test func aLongReadSaysSoEveryIntervalWhileItRuns() throws {
        let progress = CatchUpProgress(interval: .seconds(5))
        let start = ContinuousClock.now
        func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1_000)) }

        #expect(progress.reading(for: .milliseconds(4_900), now: at(4.9)) == nil)
        let first = try #require(progress.reading(for: .seconds(5), now: at(5)))
        #expect(first.message == "still reading")
        #expect(first.metadata == ["reading_seconds": "5.0"])
        #expect(progress.reading(for: .seconds(9), now: at(9)) == nil)
        let second = try #require(progress.reading(for: .seconds(10), now: at(10)))
        #expect(second.metadata["reading_seconds"] == "10.0")

        // The read ends as a batch's first chunk; the next chunk runs long too.
        let catchingUp = try #require(
            progress.chunkApplied(events: 50_000, orders: 5_000, highestEventID: 900_000, more: true, elapsed: .seconds(12), now: at(12)))
        #expect(catchingUp.message == "catching up")
        #expect(progress.reading(for: .seconds(4), now: at(16)) == nil)
        let inBatch = try #require(progress.reading(for: .seconds(6), now: at(18)))
        #expect(inBatch.metadata["reading_seconds"] == "6.0")
        #expect(inBatch.metadata["applied"] == "50000")
        #expect(inBatch.metadata["chunks"] == "1")
        #expect(inBatch.metadata["seconds"] == "18.0")
    }

    @Test func aWakeUpLogsNothing() {
        let progress = CatchUpProgress()
        #expect(progress.chunkApplied(events: 3, orders: 30, highestEventID: 3, more: false) == nil)
        #expect(progress.chunkApplied(events: 0, orders: 0, highestEventID: nil, more: false) == nil)
    }
}
