/// One parsed request. The body is complete: bodies are bounded by `ServerLimits.maxBodyBytes`.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent (path and query).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(method: String, target: String, version: HTTPVersion = .http11, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The path without the query string.
    public var path: Substring {
        target.firstIndex(of: "?").map { target[..<$0] } ?? Substring(target)
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
