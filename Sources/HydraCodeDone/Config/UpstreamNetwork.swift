import TLS
import Upstream

/// How upstream calls reach the network: TLS trust and proxies. A value, so a reload that
/// changes it is noticed (`Transports` then builds a fresh client and pool).
public struct UpstreamNetwork: Sendable, Hashable {
    /// `UPSTREAM_TLS_VERIFY=false` turns certificate and host-name checks off (start-up warns).
    public var verify = true
    /// `SSL_CERT_FILE`: a CA bundle used instead of the system store.
    public var caFile: String?
    /// `UPSTREAM_CA_FILE`: a private CA (PEM) trusted in addition to the store.
    public var extraCAFile: String?
    public var proxies = ProxyRules()

    public init() {}

    public func tlsContext() throws(TLSError) -> TLSContext {
        try TLSContext(client: verify, caFile: caFile, extraCAFile: extraCAFile)
    }

    /// One client for http and https with these settings; its TLS context is built on the first
    /// https call.
    public func makeClient() -> HTTP1Client {
        let settings = self
        return HTTP1Client(makeTLS: { () throws(TLSError) -> TLSContext in try settings.tlsContext() }, proxies: proxies)
    }

    var summary: [(String, String)] {
        var items = [("tls_verify", "\(verify)")]
        if let caFile { items.append(("ssl_cert_file", caFile)) }
        if let extraCAFile { items.append(("upstream_ca_file", extraCAFile)) }
        if let p = proxies.httpsProxy { items.append(("https_proxy", p.description)) }
        if let p = proxies.httpProxy { items.append(("http_proxy", p.description)) }
        if !proxies.noProxy.isEmpty { items.append(("no_proxy", proxies.noProxy.joined(separator: ","))) }
        return items
    }
}
