import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A small HTTP client for the end-to-end tests, over AsyncHTTPClient's shared pool.
struct HTTP: Sendable {
    let baseURL: String

    init(baseURL: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    init(port: Int) {
        self.baseURL = "http://127.0.0.1:\(port)"
    }

    struct Reply: Sendable {
        var status: Int
        var body: String
        /// By lowercased name.
        var headers: [String: String] = [:]

        func json<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONDecoder().decode(type, from: Data(body.utf8))
        }
    }

    func request(
        _ method: HTTPMethod, _ path: String, body: String? = nil, headers: [String: String] = [:], timeout: TimeAmount = .seconds(30)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let fields = Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        return Reply(status: Int(response.status.code), body: String(buffer: bytes), headers: fields)
    }

    func get(_ path: String) async throws -> Reply { try await request(.GET, path) }
    func put(_ path: String, _ body: String) async throws -> Reply { try await request(.PUT, path, body: body) }
    func post(_ path: String, _ body: String) async throws -> Reply { try await request(.POST, path, body: body) }

    /// True once `GET /health` answers 200.
    func healthy() async -> Bool {
        (try? await request(.GET, "/health", timeout: .seconds(5)).status) == 200
    }
}
