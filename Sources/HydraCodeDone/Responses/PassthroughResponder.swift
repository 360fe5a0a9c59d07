import HTTPServer
import OpenAIWire
import Pipeline
import Upstream

/// `PASSTHROUGH_MODELS`: the request goes to the primary upstream unchanged and its answer comes
/// back unchanged, streamed as it arrives — for side-by-side comparisons with the critiqued answer.
/// "Unchanged" stops at what is safe: only allow-listed headers are copied, and any configured
/// key the upstream echoes is masked in the body.
struct PassthroughResponder {
    let endpoint: UpstreamEndpoint
    let transport: any UpstreamTransport
    let idleTimeout: Duration
    /// Every configured key (AppConfig.secrets).
    let secrets: [String]

    /// Upstream headers a client may see (rate-limit hints among them); everything else stays here.
    static let copiedHeaders = ["content-type", "retry-after", "openai-processing-ms", "openai-version"]
    static let copiedHeaderPrefixes = ["x-ratelimit-"]

    func respond(body: [UInt8], exchange: ChatExchange, metrics: Metrics) async -> HTTPResponse {
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let auth = endpoint.authHeader { headers.append(auth) }
        let response: UpstreamResponse
        do {
            response = try await transport.send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath,
                                                                headers: headers, body: body, idleTimeout: idleTimeout))
        } catch {
            let failure = PipelineError(stage: .primary, upstream: error, secrets: secrets).openAI
            exchange.finish(status: failure.status, extra: "error=\(error.kind)")
            return .error(failure)
        }
        var out = Self.clientHeaders(response.headers)
        out.set("X-Hydra-Critique", "passthrough")
        if out["Content-Type"] == nil { out.set("Content-Type", "application/json") }
        if out["Content-Type"]?.contains("event-stream") == true { out.set("Cache-Control", "no-cache") }
        let body = response.body
        let secrets = self.secrets
        let status = response.status
        return HTTPResponse(status: status, headers: out, body: .stream { writer in
            var outcome = "outcome=passthrough"
            defer { exchange.finish(status: status, extra: outcome) }
            var redactor = StreamRedactor(secrets: secrets)
            do {
                while let piece = try await body.next() {
                    let safe = redactor.feed(piece)
                    try await writer.write(safe)
                    metrics.relayed(safe.count)
                }
                try await writer.write(redactor.finish())
            } catch {
                outcome = "error=relay_cut"
                await body.cancel()
                throw error
            }
        })
    }

    static func clientHeaders(_ upstream: [(String, String)]) -> HTTPHeaders {
        var out = HTTPHeaders()
        for (name, value) in upstream {
            let lower = name.lowercased()
            guard copiedHeaders.contains(lower) || copiedHeaderPrefixes.contains(where: lower.hasPrefix) else { continue }
            // The upstream parser already refuses these; a relayed head must never carry one.
            guard !value.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) else { continue }
            out.add(lower == "content-type" ? "Content-Type" : name, value)
        }
        return out
    }
}
