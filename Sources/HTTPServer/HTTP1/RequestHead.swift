import HTTP1Codec

/// The request line and header section, and how the body is framed.
public struct RequestHead: Sendable {
    public enum BodyFraming: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
    }

    public var method: String
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var framing: BodyFraming

    public var expectsContinue: Bool { headers.contains("Expect", token: "100-continue") }
}

/// Why a request could not be parsed; each maps to the status the server answers before closing.
public enum HTTPParseError: Error, Sendable, Equatable {
    case badRequest(String)
    case uriTooLong
    case headersTooLarge
    case payloadTooLarge
    case notImplemented(String)
    case versionNotSupported

    public init(_ failure: ChunkedDecoder.Failure) {
        switch failure {
        case .malformed(let why): self = .badRequest(why)
        case .bodyTooLarge: self = .payloadTooLarge
        case .trailersTooLarge: self = .headersTooLarge
        }
    }

    public var status: Int {
        switch self {
        case .badRequest: return 400
        case .uriTooLong: return 414
        case .headersTooLarge: return 431
        case .payloadTooLarge: return 413
        case .notImplemented: return 501
        case .versionNotSupported: return 505
        }
    }

    public var message: String {
        switch self {
        case .badRequest(let why): return "Bad request: \(why)"
        case .uriTooLong: return "Request line too long"
        case .headersTooLarge: return "Request header section too large"
        case .payloadTooLarge: return "Request body too large"
        case .notImplemented(let what): return "Not implemented: \(what)"
        case .versionNotSupported: return "HTTP version not supported"
        }
    }
}
