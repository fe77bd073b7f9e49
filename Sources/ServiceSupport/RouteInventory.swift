import Foundation
import Hummingbird

/// Routes spelled "GET /user-service/{id}", from a router and from an OpenAPI document, so that a
/// test can hold the two equal: no undocumented route, no documented route that is missing.
public enum RouteInventory {
    /// The router's routes, without the HEAD routes it derives from GET ones.
    public static func routes<Context>(of router: Router<Context>) -> Set<String> {
        Set(router.routes.filter { $0.method != .head }.map { "\($0.method.rawValue) \($0.path.description)" })
    }

    /// Every operation of an OpenAPI document's `paths`.
    public static func operations(inOpenAPIDocument document: [UInt8]) throws -> Set<String> {
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        guard let root = try JSONSerialization.jsonObject(with: Data(document)) as? [String: Any],
            let paths = root["paths"] as? [String: Any]
        else { throw APIError(.internalServerError, "the OpenAPI document has no 'paths' object") }
        var operations: Set<String> = []
        for (path, item) in paths {
            guard let item = item as? [String: Any] else { continue }
            for key in item.keys where methods.contains(key) { operations.insert("\(key.uppercased()) \(path)") }
        }
        return operations
    }
}
