/// A consistency token from user-service's `ECST-Token` header (`user_service.transaction_token()`
/// in schema.sql): opaque to clients; here, the writing transaction's `xid8` in decimal. What it
/// promises: docs/design.md#read-your-writes.
public struct ConsistencyToken: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    /// Nil unless `text` is a token this service could have issued.
    public init?(_ text: String) {
        // Up to 19 digits: every such number fits an xid8 (its epoch would have to pass 2^31 first).
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        // One spelling per transaction, so equal tokens compare equal.
        self.text = String(UInt64(text)!)
    }

    public var description: String { text }

    /// The transaction id it names.
    public var xid: UInt64 { UInt64(text)! }

    /// Where a token's transaction stands for a consumer (`order_service.token_states()`).
    public enum State: String, Sendable, Codable {
        /// It and everything committed before it are applied.
        case applied
        /// Not yet: still open, or its events not applied yet.
        case pending
        /// It rolled back: it wrote nothing, and there is nothing to wait for.
        case rolledBack = "rolled_back"
        /// No transaction has that id (yet): not a token of this database.
        case unknown
    }
}
