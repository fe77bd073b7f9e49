/// A request body: a JSON object whose fields it takes from a `JSONObjectReader`, refusing a
/// missing or mistyped one with the reader's 400.
public protocol JSONObjectDecodable {
    init(json: JSONObjectReader) throws(APIError)
}
