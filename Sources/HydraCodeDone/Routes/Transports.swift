import Synchronization
import Upstream

/// Which client carries a call: our HTTP/1.1 client, for http:// and https:// alike, built for
/// the configuration's network settings. A reload that changes them gets a fresh client; calls
/// in flight keep the one they started with.
final class Transports: Sendable {
    /// Which upstreams failed recently, across all requests (see `StageCall`).
    let cooldowns = Cooldowns()
    private let current = Mutex<(network: UpstreamNetwork, client: HTTP1Client)?>(nil)

    func transport(for endpoint: UpstreamEndpoint, config: AppConfig) -> any UpstreamTransport {
        client(for: config.network)
    }

    func client(for network: UpstreamNetwork) -> HTTP1Client {
        current.withLock { current in
            if let current, current.network == network { return current.client }
            let client = network.makeClient()
            current = (network, client)
            return client
        }
    }

    func chat(for endpoint: UpstreamEndpoint, config: AppConfig) -> ChatUpstream {
        ChatUpstream(transport: transport(for: endpoint, config: config), idleTimeout: config.upstreamTimeout,
                     maxResponseBytes: config.maxUpstreamResponseBytes)
    }
}
