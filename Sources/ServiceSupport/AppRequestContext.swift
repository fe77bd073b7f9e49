import Hummingbird
import Logging

/// The request context of both services: bodies are capped at 1 MiB.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.uploadLimit }

    /// 1 MiB: the largest request body either service reads.
    public static let uploadLimit = 1 << 20
}
