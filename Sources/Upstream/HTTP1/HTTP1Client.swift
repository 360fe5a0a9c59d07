import Glibc
import Sockets
import TLS

/// Our own HTTP/1.1 client for `http://` and `https://` upstreams, on the same epoll event loops
/// as the server, with keep-alive pooling per loop. TLS is OpenSSL on the same non-blocking
/// sockets (see `Connector`): URLSession on Linux serialised a session's work on one queue, cost
/// 5–8× the CPU per call, and hung when a reused https connection was reset before the answer.
public final class HTTP1Client: UpstreamTransport {
    private let pool = ConnectionPool()
    private let connector: Connector

    /// `tls` carries https calls (nil: https fails with `tlsProblem`); `proxies` routes calls
    /// through CONNECT.
    public init(tls: TLSContext?, tlsProblem: String? = nil, proxies: ProxyRules = ProxyRules()) {
        connector = Connector(tls: LazyTLS(ready: tls, problem: tlsProblem), proxies: proxies)
    }

    /// `makeTLS` runs on the first https call (a failure fails https calls, naming why).
    public init(makeTLS: @escaping @Sendable () throws(TLSError) -> TLSContext, proxies: ProxyRules = ProxyRules()) {
        connector = Connector(tls: LazyTLS(makeTLS), proxies: proxies)
    }

    /// Verifies https against the system's CA store; no proxy.
    public convenience init() {
        self.init(makeTLS: { () throws(TLSError) -> TLSContext in try TLSContext() })
    }

    public func send(_ request: UpstreamRequest) async throws(UpstreamError) -> UpstreamResponse {
        let endpoint = request.endpoint
        // Pooled per event loop: a connection is reused by tasks running on the loop that watches it.
        let loopID = EventLoopGroup.shared.current.map { String(UInt(bitPattern: ObjectIdentifier($0).hashValue)) } ?? "-"
        let key = "\(endpoint.scheme.rawValue)://\(endpoint.host):\(endpoint.port)@\(loopID)"
        let head = Self.requestHead(request)
        // A pooled connection the upstream closed meanwhile fails before any response byte:
        // that one case is retried on a fresh connection (nothing was processed).
        for attempt in 0..<2 {
            let pooled = attempt == 0 ? pool.take(key) : nil
            let socket: UpstreamConnection
            if let pooled {
                socket = pooled
            } else {
                socket = try await connector.open(endpoint, deadline: ContinuousClock.now.advanced(by: request.idleTimeout))
            }
            var reader = HeadReader(connection: socket, idleTimeout: request.idleTimeout)
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
                    throw UpstreamError.unreachable("\(endpoint.url(request.path)) closed the connection before the response")
                }
                return response(parsed, reader: reader, request: request, key: key)
            } catch let error as UpstreamError {
                socket.close()
                throw error
            } catch {
                socket.close()
                if pooled != nil, reader.received.isEmpty, let e = error as? SocketError, e.isDisconnect { continue }
                throw Self.map(error, connecting: false, started: !reader.received.isEmpty, url: endpoint.url(request.path))
            }
        }
        throw UpstreamError.unreachable("\(endpoint.url(request.path)) closed the connection before the response")
    }

    private func response(_ head: ResponseHead, reader: HeadReader, request: UpstreamRequest, key: String) -> UpstreamResponse {
        let body = HTTP1BodyReader(connection: reader.connection, framing: head.framing(method: request.method),
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

    /// Failures after the connection was open (connecting has its own messages in `Connector`).
    static func map(_ error: any Error, connecting: Bool, started: Bool = false, url: String? = nil) -> UpstreamError {
        if let e = error as? UpstreamError { return e }
        if error is CancellationError { return .cancelled }
        let at = url.map { " (\($0))" } ?? ""
        if let e = error as? TLSError { return started ? .truncated("TLS: \(e)") : .unreachable("TLS: \(e)\(at)") }
        guard let e = error as? SocketError else { return .unreachable("\(error)\(at)") }
        switch e {
        case .timedOut: return connecting ? .unreachable("connect timed out\(at)") : .timeout
        case .addressInvalid(let host): return .unreachable("cannot resolve host \(host)")
        case .system(let call, let code):
            if connecting || !started { return .unreachable("\(call): \(String(cString: strerror(code)))\(at)") }
            return .truncated("\(call): \(String(cString: strerror(code)))")
        case .closed: return started ? .truncated("connection closed") : .unreachable("connection closed\(at)")
        }
    }
}

/// Reads response heads off a connection until the final one: interim 1xx answers (100, 102,
/// 103) are skipped wherever the read boundaries fall.
struct HeadReader {
    let connection: UpstreamConnection
    let idleTimeout: Duration
    /// Everything received so far; the final head starts at 0 once `read` returns it.
    private(set) var received: [UInt8] = []
    private var scanned = 0

    init(connection: UpstreamConnection, idleTimeout: Duration) {
        self.connection = connection
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
            let bytes = try await connection.read(deadline: overall ?? ContinuousClock.now.advanced(by: idleTimeout))
            if bytes.isEmpty {
                if received.isEmpty { return nil }
                throw UpstreamError.malformed("connection closed inside the response head")
            }
            received.append(contentsOf: bytes)
        }
    }
}
