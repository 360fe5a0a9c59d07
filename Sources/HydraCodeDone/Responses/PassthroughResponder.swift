import HTTPServer
import OpenAIWire
import Pipeline
import Upstream

/// `PASSTHROUGH_MODELS`: the request goes to the primary upstream unchanged and its answer comes
/// back unchanged, streamed as it arrives — for side-by-side comparisons with the critiqued answer.
struct PassthroughResponder {
    let endpoint: UpstreamEndpoint
    let transport: any UpstreamTransport
    let idleTimeout: Duration

    func respond(body: [UInt8], permit: Permit, metrics: Metrics) async -> HTTPResponse {
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let auth = endpoint.authHeader { headers.append(auth) }
        let response: UpstreamResponse
        do {
            response = try await transport.send(UpstreamRequest(endpoint: endpoint, method: "POST", path: endpoint.chatPath,
                                                                headers: headers, body: body, idleTimeout: idleTimeout))
        } catch {
            permit.release()
            return .error(PipelineError(stage: .primary, upstream: error, secrets: [endpoint.apiKey].compactMap { $0 }).openAI)
        }
        var out: HTTPHeaders = ["X-Hydra-Critique": "passthrough"]
        out.set("Content-Type", response.header("content-type") ?? "application/json")
        if response.header("content-type")?.contains("event-stream") == true { out.set("Cache-Control", "no-cache") }
        let body = response.body
        return HTTPResponse(status: response.status, headers: out, body: .stream { writer in
            defer { permit.release() }
            do {
                while let piece = try await body.next() {
                    try await writer.write(piece)
                    metrics.relayed(piece.count)
                }
            } catch {
                await body.cancel()
                throw error
            }
        })
    }
}
