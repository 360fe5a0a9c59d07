import OpenAIWire

/// OpenAI chat-completions calls over a transport: one JSON answer, or a stream of chunk objects.
public struct ChatUpstream: Sendable {
    public let transport: any UpstreamTransport
    public let idleTimeout: Duration
    public let maxResponseBytes: Int

    public init(transport: any UpstreamTransport, idleTimeout: Duration, maxResponseBytes: Int = 64 << 20) {
        self.transport = transport
        self.idleTimeout = idleTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    func headers(_ endpoint: UpstreamEndpoint, streaming: Bool, extra: [(String, String)]) -> [(String, String)] {
        var h: [(String, String)] = [("Content-Type", "application/json"), ("Accept", streaming ? "text/event-stream" : "application/json")]
        if let auth = endpoint.authHeader { h.append(auth) }
        h.append(contentsOf: extra)
        return h
    }

    /// A non-streamed completion: the upstream's JSON object.
    public func complete(_ endpoint: UpstreamEndpoint, body: JSONObject, extraHeaders: [(String, String)] = []) async throws(UpstreamError) -> JSONObject {
        let response = try await transport.send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath,
                                                                headers: headers(endpoint, streaming: false, extra: extraHeaders),
                                                                body: JSONWriter.bytes(.object(body)), idleTimeout: idleTimeout))
        let bytes = try await response.body.collect(limit: maxResponseBytes)
        try Self.checkStatus(response.status, bytes)
        guard case .object(let object)? = try? JSONParser.parse(bytes) else {
            throw .malformed("the body is not a JSON object (\(Self.excerpt(bytes)))")
        }
        if let error = object["error"], !error.isNull {
            throw .status(502, message: Self.message(fromError: error) ?? "error object in a 200 response")
        }
        return object
    }

    /// A streamed completion: yields each `chat.completion.chunk` object; ends at `[DONE]`.
    public func stream(_ endpoint: UpstreamEndpoint, body: JSONObject, extraHeaders: [(String, String)] = []) async throws(UpstreamError) -> ChunkStream {
        let response = try await transport.send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath,
                                                                headers: headers(endpoint, streaming: true, extra: extraHeaders),
                                                                body: JSONWriter.bytes(.object(body)), idleTimeout: idleTimeout))
        if response.status != 200 {
            let bytes = (try? await response.body.collect(limit: 1 << 20)) ?? []
            try Self.checkStatus(response.status, bytes)
        }
        let contentType = response.header("content-type")?.lowercased() ?? ""
        if contentType.contains("application/json") {
            // Some servers answer a stream request with a plain JSON error or completion.
            let bytes = try await response.body.collect(limit: maxResponseBytes)
            if case .object(let object)? = try? JSONParser.parse(bytes), let error = object["error"], !error.isNull {
                throw .status(502, message: Self.message(fromError: error) ?? "error object")
            }
            throw .malformed("expected an event stream, got JSON (\(Self.excerpt(bytes)))")
        }
        return ChunkStream(body: response.body)
    }

    /// Lists the upstream's models (`GET /models`).
    public func models(_ endpoint: UpstreamEndpoint) async throws(UpstreamError) -> [String] {
        var h: [(String, String)] = [("Accept", "application/json")]
        if let auth = endpoint.authHeader { h.append(auth) }
        let response = try await transport.send(UpstreamRequest(endpoint: endpoint, method: "GET", path: endpoint.modelsPath,
                                                                headers: h, idleTimeout: idleTimeout))
        let bytes = try await response.body.collect(limit: maxResponseBytes)
        try Self.checkStatus(response.status, bytes)
        guard case .object(let o)? = try? JSONParser.parse(bytes), let data = o["data"]?.arrayValue else {
            throw .malformed("the model list is not OpenAI's list format")
        }
        return data.compactMap { $0["id"]?.stringValue }
    }

    static func checkStatus(_ status: Int, _ bytes: [UInt8]) throws(UpstreamError) {
        guard !(200..<300).contains(status) else { return }
        var message = "HTTP \(status)"
        if case .object(let o)? = try? JSONParser.parse(bytes), let m = o["error"].flatMap(message(fromError:)) ?? o["detail"]?.stringValue ?? o["message"]?.stringValue {
            message = m
        } else if !bytes.isEmpty {
            message = excerpt(bytes)
        }
        throw .status(status, message: message)
    }

    static func message(fromError error: JSONValue) -> String? {
        error.stringValue ?? error["message"]?.stringValue
    }

    static func excerpt(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        return bytes.count > 200 ? text + "…" : text
    }
}

/// The chunk objects of an upstream event stream, pulled one at a time.
public final class ChunkStream: Sendable {
    private let body: any UpstreamBody
    private let state = StreamState()

    init(body: any UpstreamBody) { self.body = body }

    /// The next chunk; nil after `[DONE]` (or a clean end after a finish_reason).
    public func next() async throws(UpstreamError) -> JSONObject? {
        try await state.next(body)
    }

    public func cancel() async { await body.cancel() }
}

actor StreamState {
    private var decoder = SSEDecoder()
    private var queue: [String] = []
    private var done = false
    private var sawFinish = false
    private var sawEvent = false

    func next(_ body: any UpstreamBody) async throws(UpstreamError) -> JSONObject? {
        while true {
            if done { return nil }
            if !queue.isEmpty {
                let data = queue.removeFirst()
                sawEvent = true
                if data.trimming(" \t\r\n") == "[DONE]" {
                    done = true
                    // Off the critical path: the next stage must not wait for the body's tail.
                    Task { [body] in await body.drain() }
                    return nil
                }
                guard case .object(let chunk)? = try? JSONParser.parse(data) else {
                    await body.cancel()
                    throw .malformed("invalid JSON in event stream (\(ChatUpstream.excerpt(Array(data.utf8))))")
                }
                if let error = chunk["error"], !error.isNull {
                    await body.cancel()
                    throw .status(502, message: ChatUpstream.message(fromError: error) ?? "error event")
                }
                if let choices = chunk["choices"]?.arrayValue, choices.contains(where: { !($0["finish_reason"]?.isNull ?? true) }) {
                    sawFinish = true
                }
                return chunk
            }
            guard let piece = try await body.next() else {
                done = true
                // A stream that stops without [DONE] and without a finish is cut off (llama.cpp
                // answers a context overflow with an empty 200): never pass that off as complete.
                if sawFinish { return nil }
                if !sawEvent {
                    throw .truncated("the upstream sent an empty event stream (llama.cpp does this when the prompt exceeds its context length)")
                }
                throw .truncated(decoder.hasPartialEvent ? "stream ended mid-event" : "stream ended without [DONE]")
            }
            do {
                queue.append(contentsOf: try decoder.feed(piece))
            } catch {
                await body.cancel()
                throw .tooLarge(decoder.maxEventBytes)
            }
        }
    }
}
