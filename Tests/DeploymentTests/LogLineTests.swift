import Logging
import ServiceSupport
import Testing

/// The services' log lines: swift-log's format, the metadata set on the logger printed with each
/// line, and a UTC timestamp to the millisecond.
@Suite("the services' log lines")
struct LogLineTests {
    @Test func aLineCarriesMillisecondsAndEveryPieceOfMetadataSortedByKey() {
        var handler = DeferredMetadataLogHandler(label: "order-service", metadataProvider: nil)
        handler[metadataKey: "request_id"] = "abc"
        handler[metadataKey: "user_id"] = "7"
        let event = LogEvent(
            level: .info, message: "order created", metadata: ["product_id": "3", "user_id": "8"], source: "OrderService",
            file: #fileID, function: #function, line: #line
        )
        let timestamp = DeferredMetadataLogHandler.timestamp(seconds: 1_796_316_334, milliseconds: 7)
        #expect(timestamp == "2026-12-03T16:45:34.007Z")
        #expect(
            handler.line(for: event, at: timestamp)
                == "2026-12-03T16:45:34.007Z info order-service: product_id=3 request_id=abc user_id=8 [OrderService] order created\n"
        )
    }

    @Test func nowIsTheClocksTimeToTheMillisecond() {
        let now = DeferredMetadataLogHandler.now()
        #expect(now.count == "2026-12-03T16:45:34.007Z".count)
        #expect(now.hasSuffix("Z") && now.dropLast(4).last == ".")
    }
}
