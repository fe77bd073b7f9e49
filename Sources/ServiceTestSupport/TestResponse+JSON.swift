import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import ServiceSupport

/// The body decoded as JSON, or nil when it does not decode. Not throwing, so it can stand alone
/// inside `#expect` (closures infer `throws` before macros expand).
public func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) -> T? {
    try? JSONDecoder().decode(type, from: Data(buffer: response.body))
}

/// The contract's error body, or nil when the body is not one.
public func errorBody(_ response: TestResponse) -> ErrorBody? {
    decode(ErrorBody.self, response)
}

/// A request body.
public func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

public let jsonHeaders: HTTPFields = [.contentType: "application/json"]
