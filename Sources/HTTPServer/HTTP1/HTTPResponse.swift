import Sockets

/// What a handler answers: a fixed body, or a stream the handler writes itself.
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Written as it is produced; `Transfer-Encoding: chunked` on HTTP/1.1. The closure runs in
        /// the request's task: it is cancelled when the client goes away.
        case stream(@Sendable (ResponseBodyWriter) async throws -> Void)
    }

    public var status: Int
    public var headers: HTTPHeaders
    public var body: Body
    /// Reset the connection instead of answering (like nginx's 444). Only the package's own fake
    /// upstream injects this fault, so it is not public API.
    package var resetsConnection = false

    package static var connectionReset: HTTPResponse {
        var r = HTTPResponse(status: 500)
        r.resetsConnection = true
        return r
    }

    public init(status: Int, headers: HTTPHeaders = [:], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, headers: HTTPHeaders = [:], text: String) {
        self.init(status: status, headers: headers, body: .bytes(Array(text.utf8)))
    }
}

/// Handles one request. The HTTP layer calls it once per request, in order per connection.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest) async -> HTTPResponse
    /// Whether the server should watch for the client hanging up while this request is handled
    /// (and cancel the handler then). Instant answers can skip the watch and its cost.
    func mayTakeLong(_ request: HTTPRequest) -> Bool
}

extension HTTPHandler {
    public func mayTakeLong(_ request: HTTPRequest) -> Bool { true }
}

/// Lets a streaming body send its pieces. Each `write` leaves in one `send` (TCP_NODELAY is on)
/// and waits while the client reads slowly, so memory stays bounded.
public struct ResponseBodyWriter: Sendable {
    let socket: AsyncSocket
    let chunked: Bool
    let writeTimeout: Duration
    /// For answers that may not have a body (1xx, 204, 304): the producer still runs to its end
    /// (it may release resources there), but what it writes goes nowhere.
    var discards = false

    public func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty, !discards else { return }
        let deadline = ContinuousClock.now.advanced(by: writeTimeout)
        if chunked {
            var frame = Array(String(bytes.count, radix: 16).utf8)
            frame.reserveCapacity(frame.count + bytes.count + 4)
            frame.append(0x0D); frame.append(0x0A)
            frame.append(contentsOf: bytes)
            frame.append(0x0D); frame.append(0x0A)
            try await socket.write(frame, deadline: deadline)
        } else {
            try await socket.write(bytes, deadline: deadline)
        }
    }

    public func write(_ text: String) async throws { try await write(Array(text.utf8)) }
}
