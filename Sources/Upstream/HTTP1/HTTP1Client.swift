import Glibc
import HTTPServer

/// Our own HTTP/1.1 client for `http://` upstreams, on the same epoll socket layer as the
/// server, with keep-alive pooling (URLSession on Linux serialises a session's work on one queue
/// and keeps opening connections).
public final class HTTP1Client: UpstreamTransport {
    private let pool = ConnectionPool()

    public init() {}

    public func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse {
        let endpoint = request.endpoint
        // Pooled per event loop: a connection is reused by tasks running on the loop that watches it.
        let loopID = EventLoopGroup.shared.current.map { String(UInt(bitPattern: ObjectIdentifier($0).hashValue)) } ?? "-"
        let key = "\(endpoint.host):\(endpoint.port)@\(loopID)"
        let head = Self.requestHead(request)
        // A pooled connection the upstream closed meanwhile fails before any response byte:
        // that one case is retried on a fresh connection (nothing was processed).
        for attempt in 0..<2 {
            let pooled = attempt == 0 ? pool.take(key) : nil
            let socket: AsyncSocket
            if let pooled {
                socket = pooled
            } else {
                do {
                    socket = try await AsyncSocket.connect(host: endpoint.host.trimmingBracketsForSocket, port: endpoint.port,
                                                           deadline: ContinuousClock.now.advanced(by: request.idleTimeout))
                } catch {
                    throw Self.map(error, connecting: true)
                }
            }
            var received: [UInt8] = []
            do {
                try await socket.write(head + request.body, deadline: ContinuousClock.now.advanced(by: request.idleTimeout))
                while true {
                    let bytes = try await socket.read(deadline: ContinuousClock.now.advanced(by: request.idleTimeout))
                    if bytes.isEmpty {
                        socket.close()
                        if pooled != nil, received.isEmpty { break }
                        throw received.isEmpty ? UpstreamError.unreachable("connection closed before the response")
                                               : UpstreamError.malformed("connection closed inside the response header")
                    }
                    received.append(contentsOf: bytes)
                    guard let parsed = try ResponseHead.parse(received) else { continue }
                    if (100..<200).contains(parsed.status) {
                        received.removeFirst(parsed.consumed)
                        continue
                    }
                    let reader = HTTP1BodyReader(socket: socket, framing: parsed.framing(method: request.method),
                                                 pending: Array(received[parsed.consumed...]), keepAlive: parsed.keepAlive,
                                                 pool: pool, key: key, idleTimeout: request.idleTimeout)
                    return UpstreamResponse(status: parsed.status, headers: parsed.headers, body: reader)
                }
            } catch let error as UpstreamError {
                socket.close()
                throw error
            } catch {
                socket.close()
                if pooled != nil, received.isEmpty, let e = error as? SocketError, e.isDisconnect { continue }
                throw Self.map(error, connecting: false, started: !received.isEmpty)
            }
        }
        throw UpstreamError.unreachable("connection closed before the response")
    }

    static func requestHead(_ request: UpstreamRequest) -> [UInt8] {
        let endpoint = request.endpoint
        var text = "\(request.method) \(endpoint.target(request.path)) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\n"
        if !request.body.isEmpty || request.method == "POST" { text += "Content-Length: \(request.body.count)\r\n" }
        for (name, value) in request.headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    static func map(_ error: any Error, connecting: Bool, started: Bool = false) -> UpstreamError {
        if let e = error as? UpstreamError { return e }
        if error is CancellationError { return .cancelled }
        guard let e = error as? SocketError else { return .unreachable("\(error)") }
        switch e {
        case .timedOut: return connecting ? .unreachable("connect timed out") : .timeout
        case .addressInvalid(let host): return .unreachable("cannot resolve host \(host)")
        case .system(let call, let code):
            if connecting || !started { return .unreachable("\(call): \(String(cString: strerror(code)))") }
            return .truncated("\(call): \(String(cString: strerror(code)))")
        case .closed: return started ? .truncated("connection closed") : .unreachable("connection closed")
        }
    }
}

extension String {
    var trimmingBracketsForSocket: String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
