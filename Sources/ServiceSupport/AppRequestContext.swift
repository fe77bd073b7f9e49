import Foundation
import Hummingbird
import Logging

/// The request context of both services: bodies are capped at 1 MiB.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { 1 << 20 }

    /// Codable responses (the consumer's status) with sorted keys: the same text from every
    /// process, where Foundation's encoder on Linux orders keys by hash, which varies per process.
    public var responseEncoder: JSONEncoder { Self.encoder }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}
