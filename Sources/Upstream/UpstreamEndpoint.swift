/// Where one pipeline stage sends its requests: an OpenAI-compatible base URL, a key, a model.
public struct UpstreamEndpoint: Sendable, Equatable {
    public enum Scheme: String, Sendable { case http, https }

    public let scheme: Scheme
    public let host: String
    public let port: UInt16
    /// Path of the chat-completions resource, e.g. `/v1/chat/completions`.
    public let chatPath: String
    /// Path of the model list, e.g. `/v1/models`.
    public let modelsPath: String
    /// Query string without `?` (Azure's `api-version=…`), kept on every call.
    public let query: String?
    public let apiKey: String?
    public let model: String

    /// Accepts a base such as `http://localhost:11434/v1`, or a full `…/chat/completions` URL.
    public init(baseURL: String, apiKey: String?, model: String) throws(EndpointError) {
        let trimmed = baseURL.trimmingCharacters(" \t")
        guard let schemeEnd = trimmed.range(of: "://") else { throw EndpointError("must start with http:// or https://") }
        guard let scheme = Scheme(rawValue: trimmed[..<schemeEnd.lowerBound].lowercased()) else {
            throw EndpointError("must start with http:// or https://")
        }
        var rest = Substring(trimmed[schemeEnd.upperBound...])
        var query: String?
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var path = String(rest[slash...])
        guard !authority.isEmpty, !authority.contains("@") else { throw EndpointError("has no valid host") }
        var host = String(authority)
        var port: UInt16 = scheme == .https ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw EndpointError("has an invalid IPv6 host") }
            host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = UInt16(after.dropFirst()) else { throw EndpointError("has an invalid port") }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let p = UInt16(authority[authority.index(after: colon)...]), p > 0 else { throw EndpointError("has an invalid port") }
            host = String(authority[..<colon])
            port = p
        }
        guard !host.isEmpty, host != "[]" else { throw EndpointError("has no valid host") }
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix("/chat/completions") {
            self.chatPath = path
            self.modelsPath = String(path.dropLast("/chat/completions".count)) + "/models"
        } else {
            self.chatPath = path + "/chat/completions"
            self.modelsPath = path + "/models"
        }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.query = query.flatMap { $0.isEmpty ? nil : $0 }
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.model = model
    }

    /// Azure OpenAI wants the key in `api-key`, everyone else in `Authorization: Bearer`.
    public var isAzure: Bool { host.lowercased().hasSuffix(".openai.azure.com") }

    public var authHeader: (String, String)? {
        guard let key = apiKey else { return nil }
        return isAzure ? ("api-key", key) : ("Authorization", "Bearer \(key)")
    }

    public func target(_ path: String) -> String { query.map { "\(path)?\($0)" } ?? path }

    public var hostHeader: String {
        (scheme == .http && port == 80) || (scheme == .https && port == 443) ? host : "\(host):\(port)"
    }

    public func url(_ path: String) -> String { "\(scheme.rawValue)://\(hostHeader)\(target(path))" }
}

public struct EndpointError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
