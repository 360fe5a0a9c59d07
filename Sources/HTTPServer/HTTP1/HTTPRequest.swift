/// One parsed request. The body is complete: bodies are bounded by `ServerLimits.maxBodyBytes`.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent (path and query).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The event loop that watches this request's connection: work started for the request (an
    /// upstream call, a stream writer) prefers it, so a token goes from the upstream socket to the
    /// client socket on one thread. nil outside a server (tests).
    public var executor: (any TaskExecutor)?

    public init(method: String, target: String, version: HTTPVersion = .http11, headers: HTTPHeaders = [:], body: [UInt8] = [],
                executor: (any TaskExecutor)? = nil) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.executor = executor
    }

    /// The path without the query string. For an absolute-form target (`http://host/path?query`,
    /// RFC 9112 §3.2.2, as sent to proxies) the path after the authority, "/" when empty.
    public var path: Substring {
        var rest = Substring(target)
        if let afterScheme = Self.afterHTTPScheme(rest) {
            // The authority ends at the first "/", "?" or "#" (RFC 3986 §3.2).
            let pathStart = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
            rest = afterScheme[pathStart...]
            if rest.first != "/" { return "/" }
        }
        return rest.firstIndex(of: "?").map { rest[..<$0] } ?? rest
    }

    /// What follows `http://` or `https://` (any case) at the start of `target`.
    private static func afterHTTPScheme(_ target: Substring) -> Substring? {
        guard target.first != "/" else { return nil }
        for scheme in ["http://", "https://"] {
            let prefix = target.prefix(scheme.count)
            if prefix.caseInsensitiveEquals(scheme) { return target[prefix.endIndex...] }
        }
        return nil
    }

    /// Whether the client wants the connection kept open after this exchange.
    public var wantsKeepAlive: Bool {
        switch version {
        case .http10: return headers.contains("Connection", token: "keep-alive")
        case .http11: return !headers.contains("Connection", token: "close")
        }
    }
}

public enum HTTPVersion: Sendable, Equatable {
    case http10, http11
    var text: String { self == .http10 ? "HTTP/1.0" : "HTTP/1.1" }
}
