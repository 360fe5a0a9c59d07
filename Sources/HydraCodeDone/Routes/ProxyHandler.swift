import HTTPServer
import OpenAIWire
import Pipeline
import Upstream

/// The application's entry for every request: request id, authentication, routing.
public struct ProxyHandler: HTTPHandler {
    let store: ConfigStore
    let registry: ModelRegistry
    let metrics: Metrics
    let admission: Admission
    let transports: Transports
    let connections: @Sendable () -> Int
    let readiness: Readiness

    /// Only chat completions wait on upstreams; everything else answers at once.
    public func mayTakeLong(_ request: HTTPRequest) -> Bool { Route.match(request.path) == .chat }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let requestID = RequestID.accept(request.headers["X-Request-Id"])
        let route = Route.match(request.path)
        // Liveness answers without touching the configuration actor.
        if route == .health, request.method == "GET" || request.method == "HEAD" {
            var response = HTTPResponse.json(200, .object(["status": .string("ok")]))
            response.headers.set("X-Request-Id", requestID)
            metrics.request(route: Route.health.rawValue, status: 200)
            return response
        }
        // Readiness too: a probe must not queue behind a reload.
        if route == .ready, request.method == "GET" || request.method == "HEAD" {
            let status = readiness.isDraining ? "draining" : admission.isSaturated ? "saturated" : "ready"
            let code = status == "ready" ? 200 : 503
            var response = HTTPResponse.json(code, .object(["status": .string(status)]))
            response.headers.set("X-Request-Id", requestID)
            metrics.request(route: Route.ready.rawValue, status: code)
            return response
        }
        let config = await store.current
        let cors = CORSPolicy(origins: config.corsAllowOrigins)
        var response: HTTPResponse
        if let route {
            if cors.isEnabled, CORSPolicy.isPreflight(request) {
                // Preflights carry no credentials: answered before authentication.
                response = cors.preflight(request, route: route)
            } else if !route.allowedMethods.contains(request.method) {
                response = .error(OpenAIError(status: 405, message: "Method \(request.method) is not allowed on \(request.path); use \(route.allowedMethods.joined(separator: ", ")).", type: "invalid_request_error"),
                                  headers: ["Allow": route.allowedMethods.joined(separator: ", ")])
            } else if route.needsAuth, let key = config.proxyAPIKey, !authorized(request, key: key) {
                response = .error(OpenAIError(status: 401, message: "Incorrect or missing API key. Send 'Authorization: Bearer <PROXY_API_KEY>'.", type: "invalid_request_error", code: "invalid_api_key"))
            } else {
                response = await serve(route, request, config: config, requestID: requestID)
            }
        } else {
            response = .error(OpenAIError(status: 404, message: "Unknown path \(request.path). Try POST /v1/chat/completions or GET /v1/models.", type: "invalid_request_error", code: "unknown_url"))
        }
        cors.decorate(&response, for: request)
        response.headers.set("X-Request-Id", requestID)
        metrics.request(route: route?.rawValue ?? "unknown", status: response.status)
        return response
    }

    private func authorized(_ request: HTTPRequest, key: String) -> Bool {
        // The scheme is case-insensitive (RFC 9110 §11.1); only the token is secret.
        guard let header = request.headers["Authorization"], let space = header.firstIndex(of: " "),
              header[..<space].lowercased() == "bearer" else { return false }
        let token = header[header.index(after: space)...].drop(while: { $0 == " " })
        return ConstantTime.equals(String(token), key)
    }

    private func serve(_ route: Route, _ request: HTTPRequest, config: AppConfig, requestID: String) async -> HTTPResponse {
        switch route {
        case .health:
            return .json(200, .object(["status": .string("ok")]))
        case .ready:
            return .json(readiness.isDraining ? 503 : 200, .object(["status": .string(readiness.isDraining ? "draining" : "ready")]))
        case .models:
            return .json(200, await registry.listJSON(config))
        case .metrics:
            let text = metrics.render(inFlight: admission.inFlight, queued: admission.queued, connections: connections())
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4"], text: text)
        case .chat:
            let logger = Logger(level: config.logLevel, requestID: requestID)
            return await ChatCompletionsRoute(config: config, logger: logger, metrics: metrics, admission: admission, transports: transports, registry: registry)
                .handle(request)
        }
    }
}
