import HTTPTypes

extension HTTPField.Name {
    /// user-service's answer to a write: the consistency token naming the writing transaction.
    public static let ecstToken = HTTPField.Name("ECST-Token")!
    /// order-service's request header: answer only once this token's write is applied.
    public static let ecstAfter = HTTPField.Name("ECST-After")!
    /// How many seconds order-service may wait for `ECST-After` (default 2, at most 30).
    public static let ecstWait = HTTPField.Name("ECST-Wait")!
}
