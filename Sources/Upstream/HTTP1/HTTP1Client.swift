import Glibc
import Sockets

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
                    socket = try await AsyncSocket.connect(host: endpoint.host, port: endpoint.port,
                                                           deadline: ContinuousClock.now.advanced(by: request.idleTimeout))
                } catch {
                    throw Self.map(error, connecting: true)
                }
            }
            var reader = HeadReader(socket: socket, idleTimeout: request.idleTimeout)
            do {
                do {
                    try await socket.write(head + request.body, deadline: ContinuousClock.now.advanced(by: request.idleTimeout))
                } catch let error as SocketError where error.isDisconnect {
                    // An upstream may answer early (413 before reading a large body) and close:
                    // its answer is worth more than our broken pipe.
                    if let early = try? await reader.read(within: .seconds(1)) {
                        return response(early, reader: reader, request: request, key: key)
                    }
                    throw error
                }
                guard let parsed = try await reader.read(within: nil) else {
                    socket.close()
                    if pooled != nil { continue }
                    throw UpstreamError.unreachable("connection closed before the response")
                }
                return response(parsed, reader: reader, request: request, key: key)
            } catch let error as UpstreamError {
                socket.close()
                throw error
            } catch {
                socket.close()
                if pooled != nil, reader.received.isEmpty, let e = error as? SocketError, e.isDisconnect { continue }
                throw Self.map(error, connecting: false, started: !reader.received.isEmpty)
            }
        }
        throw UpstreamError.unreachable("connection closed before the response")
    }

    private func response(_ head: ResponseHead, reader: HeadReader, request: UpstreamRequest, key: String) -> UpstreamResponse {
        let body = HTTP1BodyReader(socket: reader.socket, framing: head.framing(method: request.method),
                                   pending: Array(reader.received[head.consumed...]), keepAlive: head.keepAlive,
                                   pool: pool, key: key, idleTimeout: request.idleTimeout)
        return UpstreamResponse(status: head.status, headers: head.headers, body: body)
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

/// Reads response heads off a connection until the final one: interim 1xx answers (100, 102,
/// 103) are skipped wherever the read boundaries fall.
struct HeadReader {
    let socket: AsyncSocket
    let idleTimeout: Duration
    /// Everything received so far; the final head starts at 0 once `read` returns it.
    private(set) var received: [UInt8] = []
    private var scanned = 0

    init(socket: AsyncSocket, idleTimeout: Duration) {
        self.socket = socket
        self.idleTimeout = idleTimeout
    }

    /// The final head; nil when the connection closed before any byte came. `within` bounds the
    /// whole wait (else the idle timeout bounds each read).
    mutating func read(within limit: Duration?) async throws -> ResponseHead? {
        let overall = limit.map { ContinuousClock.now.advanced(by: $0) }
        while true {
            while let head = try ResponseHead.parse(received, scannedUpTo: scanned) {
                guard (100..<200).contains(head.status) else { return head }
                // 101 switches protocols, which we never asked for.
                if head.status == 101 { throw UpstreamError.malformed("unexpected 101 Switching Protocols") }
                received.removeFirst(head.consumed)
                scanned = 0
            }
            scanned = received.count
            let bytes = try await socket.read(deadline: overall ?? ContinuousClock.now.advanced(by: idleTimeout))
            if bytes.isEmpty {
                if received.isEmpty { return nil }
                throw UpstreamError.malformed("connection closed inside the response head")
            }
            received.append(contentsOf: bytes)
        }
    }
}
