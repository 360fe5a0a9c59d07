import OpenAIWire
import Upstream

/// The upstream's own models (for `PASSTHROUGH_MODELS`), cached and refreshed in the background.
/// Everything else a model list or a model choice depends on comes from the configuration
/// snapshot the caller passes in, so a request never sees two configurations at once.
public actor ModelRegistry {
    private let created: Int
    public private(set) var upstreamModels: [String] = []
    private var refresher: Task<Void, Never>?

    public init(created: Int) {
        self.created = created
    }

    /// Keeps the passthrough list fresh; an unreachable upstream keeps the last good list.
    /// `config` is read on every round, so a reload that turns passthrough on is picked up.
    public func startRefreshing(every interval: Duration, config: @escaping @Sendable () async -> AppConfig,
                                fetch: @escaping @Sendable (UpstreamEndpoint) async -> [String]?) {
        refresher?.cancel()
        refresher = Task { [weak self] in
            while !Task.isCancelled {
                let current = await config()
                if current.passthroughModels, let models = await fetch(current.primary) {
                    await self?.store(models)
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func store(_ models: [String]) { upstreamModels = models }

    public func ids(_ config: AppConfig) -> [String] {
        var ids = [config.proxyModelName]
        for p in config.pipelines where !ids.contains(p.id) { ids.append(p.id) }
        if config.passthroughModels {
            for m in upstreamModels where !ids.contains(m) { ids.append(m) }
        }
        return ids
    }

    public func listJSON(_ config: AppConfig) -> JSONValue {
        .object([
            "object": .string("list"),
            "data": .array(ids(config).map { id in
                .object(["id": .string(id), "object": .string("model"), "created": .int(created), "owned_by": .string("hydracodedone")])
            }),
        ])
    }
}
