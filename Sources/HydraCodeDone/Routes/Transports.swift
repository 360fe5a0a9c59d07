import Upstream

/// Which client carries a call: our HTTP/1.1 client for http://, URLSession for https://.
struct Transports: Sendable {
    let http: any UpstreamTransport
    let https: any UpstreamTransport

    static func standard() -> Transports { Transports(http: HTTP1Client(), https: URLSessionTransport()) }

    func transport(for endpoint: UpstreamEndpoint) -> any UpstreamTransport {
        endpoint.scheme == .http ? http : https
    }

    func chat(for endpoint: UpstreamEndpoint, config: AppConfig) -> ChatUpstream {
        ChatUpstream(transport: transport(for: endpoint), idleTimeout: config.upstreamTimeout,
                     maxResponseBytes: config.maxUpstreamResponseBytes)
    }
}
