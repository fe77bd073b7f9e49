import Hummingbird

/// A response body written as a flat JSON object by a `JSONObjectWriter`, field by field.
public protocol JSONObjectEncodable: ResponseGenerator {
    func write(to object: inout JSONObjectWriter)
}

extension JSONObjectEncodable {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object = JSONObjectWriter()
        write(to: &object)
        return object.response()
    }
}
