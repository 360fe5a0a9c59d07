/// An error in OpenAI's shape: `{"error":{"message","type","param","code"}}` with an HTTP status.
public struct OpenAIError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String? = nil, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type ?? Self.defaultType(status)
        self.param = param
        self.code = code
    }

    public static func invalidRequest(_ message: String, param: String? = nil) -> OpenAIError {
        OpenAIError(status: 400, message: message, type: "invalid_request_error", param: param, code: param == nil ? nil : "invalid_value")
    }

    public static func defaultType(_ status: Int) -> String {
        switch status {
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 429: return "rate_limit_error"
        case 400..<500: return "invalid_request_error"
        case 504: return "timeout_error"
        case 502, 503: return "upstream_error"
        default: return "server_error"
        }
    }

    public var json: JSONValue {
        .object([
            "error": .object([
                "message": .string(message),
                "type": .string(type),
                "param": param.map(JSONValue.string) ?? .null,
                "code": code.map(JSONValue.string) ?? .null,
            ]),
        ])
    }

    public var bytes: [UInt8] { JSONWriter.bytes(json) }
}
