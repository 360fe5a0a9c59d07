import OpenAIWire
import Upstream

/// Answers `/v1/models` and decides which pipeline serves a request's `model`: the proxy's own id
/// (the environment-defined pipeline) first, then named pipelines, then — with
/// `PASSTHROUGH_MODELS` — the upstream's own models, cached and refreshed in the background.
public actor ModelRegistry {
    public enum Resolution: Sendable {
        case defaultPipeline
        case named(NamedPipeline)
        case passthrough
        case unknown
    }

    private let created: Int
    private var config: AppConfig
    private var upstreamModels: [String] = []
    private var refresher: Task<Void, Never>?

    public init(config: AppConfig, created: Int) {
        self.config = config
        self.created = created
    }

    public func update(_ config: AppConfig) {
        self.config = config
        if !config.passthroughModels { upstreamModels = [] }
    }

    /// Keeps the passthrough list fresh; an unreachable upstream keeps the last good list.
    public func startRefreshing(every interval: Duration, fetch: @escaping @Sendable (UpstreamEndpoint) async -> [String]?) {
        refresher?.cancel()
        refresher = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                let config = await self.config
                if config.passthroughModels, let models = await fetch(config.primary) {
                    await self.store(models)
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func store(_ models: [String]) { upstreamModels = models }

    public func ids() -> [String] {
        var ids = [config.proxyModelName]
        for p in config.pipelines where !ids.contains(p.id) { ids.append(p.id) }
        if config.passthroughModels {
            for m in upstreamModels where !ids.contains(m) { ids.append(m) }
        }
        return ids
    }

    public func resolve(_ model: String?) -> Resolution {
        guard let model, model != config.proxyModelName else { return .defaultPipeline }
        if let p = config.pipelines.first(where: { $0.id == model }) { return .named(p) }
        if config.passthroughModels, upstreamModels.contains(model) { return .passthrough }
        return config.strictModels ? .unknown : .defaultPipeline
    }

    public func listJSON() -> JSONValue {
        .object([
            "object": .string("list"),
            "data": .array(ids().map { id in
                .object(["id": .string(id), "object": .string("model"), "created": .int(created), "owned_by": .string("hydracodedone")])
            }),
        ])
    }
}
