import HTTPServer
import OpenAIWire

/// Cross-origin access for chat UIs that call the API from a web page. Off unless
/// `CORS_ALLOW_ORIGINS` names origins: with no `PROXY_API_KEY`, any page a user opens could
/// otherwise spend the upstream key through the proxy.
struct CORSPolicy {
    let origins: [String]

    var isEnabled: Bool { !origins.isEmpty }

    func allows(_ origin: String) -> Bool { origins.contains("*") || origins.contains(origin) }

    static func isPreflight(_ request: HTTPRequest) -> Bool {
        request.method == "OPTIONS" && request.headers["Origin"] != nil && request.headers["Access-Control-Request-Method"] != nil
    }

    /// The answer to `OPTIONS` with `Access-Control-Request-Method` on a known route.
    func preflight(_ request: HTTPRequest, route: Route) -> HTTPResponse {
        let origin = request.headers["Origin"] ?? ""
        let method = request.headers["Access-Control-Request-Method"] ?? ""
        guard allows(origin) else {
            return .error(OpenAIError(status: 403, message: "Origin \(origin) is not allowed (CORS_ALLOW_ORIGINS).", type: "invalid_request_error", code: "cors_origin_not_allowed"))
        }
        guard route.allowedMethods.contains(method) else {
            return .error(OpenAIError(status: 405, message: "Method \(method) is not allowed on \(request.path); use \(route.allowedMethods.joined(separator: ", ")).", type: "invalid_request_error"),
                          headers: ["Allow": route.allowedMethods.joined(separator: ", ")])
        }
        var headers: HTTPHeaders = [
            "Access-Control-Allow-Methods": (route.allowedMethods + ["OPTIONS"]).joined(separator: ", "),
            // SDKs send their own headers (x-stainless-*, OpenAI-Beta…): allow what the page asks for.
            "Access-Control-Allow-Headers": request.headers["Access-Control-Request-Headers"] ?? "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
        ]
        headers.set("Access-Control-Allow-Origin", origin)
        headers.set("Vary", "Origin")
        return HTTPResponse(status: 204, headers: headers)
    }

    /// Lets the page read an answer to an allowed origin (and the headers it may want).
    func decorate(_ response: inout HTTPResponse, for request: HTTPRequest) {
        guard let origin = request.headers["Origin"], allows(origin) else { return }
        response.headers.set("Access-Control-Allow-Origin", origin)
        response.headers.set("Access-Control-Expose-Headers", "X-Request-Id, X-Hydra-Critique, Retry-After")
        response.headers.set("Vary", "Origin")
    }
}
