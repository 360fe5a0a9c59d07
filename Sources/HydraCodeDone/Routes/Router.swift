import HTTPServer
import OpenAIWire

/// Maps method and path to a route; the HTTP layer below knows nothing of these.
enum Route: String, Sendable {
    case health, ready, models, metrics, chat

    static func match(_ path: Substring) -> Route? {
        switch path {
        case "/health", "/v1/health": return .health
        case "/health/ready", "/v1/health/ready": return .ready
        case "/v1/models", "/models": return .models
        case "/metrics": return .metrics
        case "/v1/chat/completions", "/chat/completions": return .chat
        default: return nil
        }
    }

    var allowedMethods: [String] {
        switch self {
        case .health, .ready, .models, .metrics: return ["GET", "HEAD"]
        case .chat: return ["POST"]
        }
    }

    var needsAuth: Bool { self != .health && self != .ready }
}

extension HTTPResponse {
    static func json(_ status: Int, _ value: JSONValue, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var h = headers
        h.set("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: h, body: .bytes(JSONWriter.bytes(value)))
    }

    static func error(_ error: OpenAIError, headers: HTTPHeaders = [:]) -> HTTPResponse {
        json(error.status, error.json, headers: headers)
    }
}

/// The HTTP layer's own errors (malformed requests, limits), in OpenAI's shape.
public let openAIErrorResponder: ErrorResponder = { status, message in
    HTTPResponse.error(OpenAIError(status: status, message: message))
}
