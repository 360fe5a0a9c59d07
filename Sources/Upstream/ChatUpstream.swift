import OpenAIWire

/// OpenAI chat-completions calls over a transport: one JSON answer, or a stream of chunk objects.
/// Every error it raises is already free of the endpoint's key.
public struct ChatUpstream: Sendable {
    public let transport: any UpstreamTransport
    public let idleTimeout: Duration
    public let maxResponseBytes: Int

    public init(transport: any UpstreamTransport, idleTimeout: Duration, maxResponseBytes: Int = 64 << 20) {
        self.transport = transport
        self.idleTimeout = idleTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    private func post(_ endpoint: UpstreamEndpoint, _ body: JSONObject, streaming: Bool, extraHeaders: [(String, String)]) async throws(UpstreamError) -> UpstreamResponse {
        var headers: [(String, String)] = [("Content-Type", "application/json"), ("Accept", streaming ? "text/event-stream" : "application/json")]
        if let auth = endpoint.authHeader { headers.append(auth) }
        headers.append(contentsOf: extraHeaders)
        return try await transport.send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath, headers: headers,
                                                        body: JSONWriter.bytes(.object(body)), idleTimeout: idleTimeout))
    }

    /// A non-streamed completion: the upstream's JSON object, its first choice checked against
    /// OpenAI's schema (a message object whose content is a string or null).
    public func complete(_ endpoint: UpstreamEndpoint, body: JSONObject, extraHeaders: [(String, String)] = []) async throws(UpstreamError) -> JSONObject {
        let text = ErrorText(endpoint)
        let response = try await post(endpoint, body, streaming: false, extraHeaders: extraHeaders)
        let bytes = try await response.body.collect(limit: maxResponseBytes)
        try text.checkStatus(response, bytes)
        guard case .object(let object)? = try? JSONParser.parse(bytes) else {
            throw .malformed("the body is not a JSON object (\(text.excerpt(bytes)))")
        }
        if let error = object["error"], !error.isNull {
            throw .status(502, message: text.message(fromError: error) ?? "error object in a 200 response")
        }
        try CompletionShape.checkCompletion(object)
        return object
    }

    /// A streamed completion: yields each `chat.completion.chunk` object; ends at `[DONE]`.
    public func stream(_ endpoint: UpstreamEndpoint, body: JSONObject, extraHeaders: [(String, String)] = []) async throws(UpstreamError) -> ChunkStream {
        let text = ErrorText(endpoint)
        let response = try await post(endpoint, body, streaming: true, extraHeaders: extraHeaders)
        if response.status != 200 {
            let bytes = (try? await response.body.collect(limit: 1 << 20)) ?? []
            try text.checkStatus(response, bytes)
        }
        let contentType = response.header("content-type")?.lowercased() ?? ""
        if contentType.contains("application/json") {
            // Some servers answer a stream request with a plain JSON error or completion.
            let bytes = try await response.body.collect(limit: maxResponseBytes)
            if case .object(let object)? = try? JSONParser.parse(bytes), let error = object["error"], !error.isNull {
                throw .status(502, message: text.message(fromError: error) ?? "error object")
            }
            throw .malformed("expected an event stream, got JSON (\(text.excerpt(bytes)))")
        }
        return ChunkStream(body: response.body, errorText: text)
    }

    /// Lists the upstream's models (`GET /models`).
    public func models(_ endpoint: UpstreamEndpoint) async throws(UpstreamError) -> [String] {
        var h: [(String, String)] = [("Accept", "application/json")]
        if let auth = endpoint.authHeader { h.append(auth) }
        let response = try await transport.send(UpstreamRequest(endpoint: endpoint, method: "GET", path: endpoint.modelsPath,
                                                                headers: h, idleTimeout: idleTimeout))
        let bytes = try await response.body.collect(limit: maxResponseBytes)
        try ErrorText(endpoint).checkStatus(response.status, bytes)
        guard case .object(let o)? = try? JSONParser.parse(bytes), let data = o["data"]?.arrayValue else {
            throw .malformed("the model list is not OpenAI's list format")
        }
        return data.compactMap { $0["id"]?.stringValue }
    }
}

/// Turns what an upstream said into error text: the endpoint's key masked before anything is cut.
struct ErrorText: Sendable {
    let secrets: [String]
    static let excerptLimit = 200

    init(_ endpoint: UpstreamEndpoint) { secrets = [endpoint.apiKey].compactMap { $0 } }

    /// A failed response: its Retry-After is read only then (looking a header up lowercases).
    func checkStatus(_ response: UpstreamResponse, _ bytes: [UInt8]) throws(UpstreamError) {
        guard !(200..<300).contains(response.status) else { return }
        try checkStatus(response.status, bytes, retryAfter: response.header("retry-after"))
    }

    func checkStatus(_ status: Int, _ bytes: [UInt8], retryAfter: String? = nil) throws(UpstreamError) {
        guard !(200..<300).contains(status) else { return }
        var message = "HTTP \(status)"
        if case .object(let o)? = try? JSONParser.parse(bytes), let m = o["error"].flatMap(message(fromError:)) ?? o["detail"]?.stringValue ?? o["message"]?.stringValue {
            message = Redactor.redact(m, secrets: secrets)
        } else if !bytes.isEmpty {
            message = excerpt(bytes)
        }
        // Seconds only; an HTTP-date Retry-After is rare from APIs and treated as absent.
        let wait = retryAfter.flatMap { Int($0.trimmingCharacters(" \t")) }.flatMap { $0 >= 0 && $0 <= 86_400 ? Duration.seconds($0) : nil }
        throw .status(status, message: message, retryAfter: wait)
    }

    func message(fromError error: JSONValue) -> String? {
        (error.stringValue ?? error["message"]?.stringValue).map { Redactor.redact($0, secrets: secrets) }
    }

    func excerpt(_ bytes: [UInt8]) -> String {
        Redactor.excerpt(bytes, limit: Self.excerptLimit, secrets: secrets)
    }
}
