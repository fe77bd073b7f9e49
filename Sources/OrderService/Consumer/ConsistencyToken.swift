/// A consistency token from user-service's `ECST-Token` header (`user_service.transaction_token()`
/// in schema.sql): opaque to clients; here, the writing transaction's `xid8` in decimal. What it
/// promises: docs/design.md#read-your-writes.
public struct ConsistencyToken: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    /// Nil unless `text` is a token this service could have issued.
    public init?(_ text: String) {
        guard !text.isEmpty, text.count <= 20, text.allSatisfy({ $0.isASCII && $0.isNumber }), UInt64(text) != nil else { return nil }
        // One spelling per transaction, so equal tokens compare equal.
        self.text = String(UInt64(text)!)
    }

    public var description: String { text }

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
