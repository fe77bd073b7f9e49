import Hummingbird
import Logging

/// The request context of both services: bodies are capped at 1 MiB.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { 1 << 20 }
}
