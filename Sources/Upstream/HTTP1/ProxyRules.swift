/// Which upstream calls go through a corporate proxy: `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`
/// and their lower-case forms (lower case wins, as in curl). Calls through a proxy use HTTP
/// CONNECT, so TLS stays end to end.
public struct ProxyRules: Sendable, Hashable {
    public var httpProxy: ProxyServer?
    public var httpsProxy: ProxyServer?
    /// Host names (a leading dot or none: the domain and its subdomains), IP literals, or `*`.
    public var noProxy: [String]

    public init(httpProxy: ProxyServer? = nil, httpsProxy: ProxyServer? = nil, noProxy: [String] = []) {
        self.httpProxy = httpProxy
        self.httpsProxy = httpsProxy
        self.noProxy = noProxy
    }

    /// Reads the variables through `value` (environment over `.env`).
    public init(lookup value: (String) -> String?) throws(EndpointError) {
        func first(_ names: String...) -> String? {
            for name in names {
                if let v = value(name)?.trimmingCharacters(" \t"), !v.isEmpty { return v }
            }
            return nil
        }
        httpProxy = nil
        httpsProxy = nil
        if let url = first("http_proxy", "HTTP_PROXY") { httpProxy = try ProxyServer(url: url) }
        if let url = first("https_proxy", "HTTPS_PROXY") { httpsProxy = try ProxyServer(url: url) }
        noProxy = (first("no_proxy", "NO_PROXY") ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(" \t").lowercased() }.filter { !$0.isEmpty }
    }

    public var isEmpty: Bool { httpProxy == nil && httpsProxy == nil }

    /// The proxy for a call to `endpoint`, or nil to connect directly.
    public func server(for endpoint: UpstreamEndpoint) -> ProxyServer? {
        guard let server = endpoint.scheme == .https ? httpsProxy : httpProxy else { return nil }
        let host = endpoint.host.trimmingBracketsForProxy.lowercased()
        for rule in noProxy {
            if rule == "*" { return nil }
            let bare = rule.hasPrefix(".") ? String(rule.dropFirst()) : rule
            let name = bare.trimmingBracketsForProxy
            if host == name || host.hasSuffix("." + name) { return nil }
        }
        return server
    }
}

/// `http://[user:password@]host:port` of a forward proxy.
public struct ProxyServer: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: UInt16
    /// `Basic …` when the URL carries credentials.
    let authorization: String?

    public init(url: String) throws(EndpointError) {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") {
            guard rest[..<scheme.lowerBound].lowercased() == "http" else {
                throw EndpointError("proxy '\(ProxyServer.redacted(url))' must be an http:// URL (the tunnel itself is CONNECT)")
            }
            rest = rest[scheme.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var credentials: String?
        if let at = rest.lastIndex(of: "@") {
            credentials = String(rest[..<at]).removingPercentEncodingForProxy
            rest = rest[rest.index(after: at)...]
        }
        var host = String(rest)
        var port: UInt16 = 80
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let p = UInt16(rest[rest.index(after: colon)...]), p > 0 else {
                throw EndpointError("proxy '\(ProxyServer.redacted(url))' has an invalid port")
            }
            host = String(rest[..<colon])
            port = p
        }
        guard !host.isEmpty else { throw EndpointError("proxy '\(ProxyServer.redacted(url))' has no host") }
        self.host = host
        self.port = port
        self.authorization = credentials.map { "Basic " + Base64.encode(Array($0.utf8)) }
    }

    /// Never shows credentials.
    public var description: String { "http://\(host):\(port)" }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@") else { return url }
        let start = url.range(of: "://")?.upperBound ?? url.startIndex
        return String(url[..<start]) + "…@" + String(url[url.index(after: at)...])
    }
}

enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 0x0f) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    fileprivate var trimmingBracketsForProxy: String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }

    /// `%40` in a proxy password is `@`.
    fileprivate var removingPercentEncodingForProxy: String {
        var out: [UInt8] = []
        var bytes = Array(utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2,
               let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
