import Hummingbird
import ServiceSupport

/// What a write returns: the entity as written and the writing transaction's consistency token
/// (`user_service.transaction_token()`), which the response carries as `ECST-Token`
/// (docs/design.md#read-your-writes).
struct Written<Value: Sendable>: Sendable {
    var value: Value
    var token: String
}

extension Written where Value: ResponseGenerator {
    /// The entity as the body, the token as `ECST-Token`.
    func response(status: HTTPResponse.Status = .ok) -> EditedResponse<Value> {
        EditedResponse(status: status, headers: [.ecstToken: token], response: value)
    }
}
