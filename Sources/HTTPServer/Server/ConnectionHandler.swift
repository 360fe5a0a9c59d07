import Glibc
import HTTP1Codec
import Sockets

/// Serves one client connection: reads requests in order (pipelining included), enforces the
/// limits, writes responses, and cancels the request's work when the client goes away.
actor ConnectionHandler {
    private let socket: AsyncSocket
    private let handler: any HTTPHandler
    private let limits: ServerLimits
    private let tracker: ConnectionTracker
    private let errorResponder: ErrorResponder
    private let parser: RequestHeadParser
    /// Received bytes not yet consumed by a request.
    private var buffer: [UInt8] = []

    init(socket: AsyncSocket, handler: any HTTPHandler, limits: ServerLimits, tracker: ConnectionTracker, errorResponder: @escaping ErrorResponder) {
        self.socket = socket
        self.handler = handler
        self.limits = limits
        self.tracker = tracker
        self.errorResponder = errorResponder
        self.parser = RequestHeadParser(maxRequestLineBytes: limits.maxRequestLineBytes, maxHeaderBytes: limits.maxHeaderBytes)
    }

    /// Serves requests until the connection closes, or until it falls idle: then no task waits
    /// for it (a task and its stack cost kilobytes); the event loop starts a new one when the
    /// client speaks again.
    func run(isFirst first: Bool = true) async {
        if await serve(isFirst: first) == .park { return park() }
        close()
    }

    private func close() {
        tracker.remove(socket.fd)
        socket.close()
    }

    private func park() {
        let deadline = ContinuousClock.now.advanced(by: limits.idleTimeout)
        let loop = socket.loop
        loop.whenReadable(socket.fd, deadline: deadline) { [self] ready in
            Task(executorPreference: loop) {
                if ready { await self.run(isFirst: false) } else { await self.close() }
            }
        }
    }

    private enum Ending { case close, park }

    private func serve(isFirst first: Bool) async -> Ending {
        var isFirst = first
        while true {
            guard tracker.setIdle(socket.fd, buffer.isEmpty) else { return .close }
            if buffer.isEmpty, !isFirst {
                // Idle keep-alive connection: nothing is pending; wait without a task.
                if !socket.socket.hasPendingInput() { return .park }
            }
            let head: RequestHead
            switch await readHead(isFirst: isFirst) {
            case .closed: return .close
            case .failed(let error):
                await sendError(error.status, error.message)
                return .close
            case .timedOutMidHead:
                await sendError(408, "Request header timeout")
                return .close
            case .head(let h): head = h
            }
            _ = tracker.setIdle(socket.fd, false)
            isFirst = false

            let body: [UInt8]
            do {
                body = try await readBody(head)
            } catch let error as HTTPParseError {
                await sendError(error.status, error.message)
                return .close
            } catch {
                return .close
            }
            let request = HTTPRequest(method: head.method, target: head.target, version: head.version, headers: head.headers, body: body,
                                      executor: socket.loop)
            let keepAlive = handler.mayTakeLong(request) ? await respondWatchingPeer(request) : await respond(request)
            if !keepAlive { return .close }
        }
    }

    // MARK: Reading

    private enum HeadOutcome { case head(RequestHead), closed, failed(HTTPParseError), timedOutMidHead }

    private func readHead(isFirst: Bool) async -> HeadOutcome {
        let clock = ContinuousClock()
        // Waiting for a first byte is idleness; once a request starts, the whole head must arrive in time.
        var deadline = clock.now.advanced(by: buffer.isEmpty && !isFirst ? limits.idleTimeout : limits.headerTimeout)
        var started = !buffer.isEmpty
        // Resumes where the previous read's parse stopped: a head sent a few bytes per segment
        // costs time linear in its size, not quadratic.
        var scan = RequestHeadParser.Scan()
        while true {
            switch parser.parse(buffer[...], resuming: &scan) {
            case .complete(let head, let consumed):
                buffer.removeFirst(consumed)
                return .head(head)
            case .failure(let error):
                return .failed(error)
            case .incomplete:
                break
            }
            // A trickling client always has a byte ready for the next read: check the clock too.
            if started, clock.now >= deadline { return .timedOutMidHead }
            do {
                let bytes = try await socket.read(deadline: deadline)
                if bytes.isEmpty { return .closed }
                if !started {
                    started = true
                    deadline = clock.now.advanced(by: limits.headerTimeout)
                    _ = tracker.setIdle(socket.fd, false)
                }
                buffer.append(contentsOf: bytes)
            } catch SocketError.timedOut {
                return started ? .timedOutMidHead : .closed
            } catch {
                return .closed
            }
        }
    }

    private func readBody(_ head: RequestHead) async throws -> [UInt8] {
        switch head.framing {
        case .none:
            return []
        case .length(let length):
            guard length <= limits.maxBodyBytes else { throw HTTPParseError.payloadTooLarge }
            if buffer.count < length, head.expectsContinue { try await sendContinue() }
            while buffer.count < length {
                try await readMore()
            }
            let body = Array(buffer[..<length])
            buffer.removeFirst(length)
            return body
        case .chunked:
            var decoder = ChunkedDecoder(maxBodyBytes: limits.maxBodyBytes)
            var continueSent = false
            while true {
                let used: Int
                do { used = try decoder.feed(buffer[...]) } catch { throw HTTPParseError(error) }
                buffer.removeFirst(used)
                if decoder.isComplete { return decoder.body }
                if head.expectsContinue, !continueSent {
                    continueSent = true
                    try await sendContinue()
                }
                try await readMore()
            }
        }
    }

    private func readMore() async throws {
        let bytes = try await socket.read(deadline: ContinuousClock.now.advanced(by: limits.ioTimeout))
        if bytes.isEmpty { throw SocketError.closed }
        buffer.append(contentsOf: bytes)
    }

    private func sendContinue() async throws {
        try await socket.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), deadline: ContinuousClock.now.advanced(by: limits.ioTimeout))
    }

    // MARK: Responding

    private enum Outcome: Sendable {
        case responded(keepAlive: Bool)
        case peer(bytes: [UInt8], hungUp: Bool)
    }

    /// Runs the handler and, beside it, watches the socket: a client that hangs up cancels the
    /// handler's task (and with it any upstream work). Bytes a pipelining client sends meanwhile
    /// are kept for the next request.
    private func respondWatchingPeer(_ request: HTTPRequest) async -> Bool {
        let socket = self.socket
        return await withTaskGroup(of: Outcome.self) { group in
            group.addTask { .responded(keepAlive: await self.respond(request)) }
            group.addTask {
                let (bytes, hungUp) = await PeerWatch.watch(socket)
                return .peer(bytes: bytes, hungUp: hungUp)
            }
            var keepAlive = false
            var peerGone = false
            while let outcome = await group.next() {
                switch outcome {
                case .responded(let k):
                    keepAlive = k
                    group.cancelAll()
                case .peer(let bytes, let hungUp):
                    buffer.append(contentsOf: bytes)
                    if hungUp {
                        peerGone = true
                        group.cancelAll()
                    }
                }
            }
            return keepAlive && !peerGone
        }
    }

    /// Writes the handler's response; returns whether the connection may serve another request.
    private func respond(_ request: HTTPRequest) async -> Bool {
        var response = await handler.handle(request)
        if response.resetsConnection {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(socket.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            return false
        }
        if !(100...599).contains(response.status) {
            // Written as is, it would be a malformed status line: the client could not read on.
            let invalid = response.status
            response = errorResponder(500, "Internal error: the handler answered with status \(invalid)")
            response.status = 500
        }
        var keepAlive = request.wantsKeepAlive && !tracker.isDraining && !Task.isCancelled
        var headers = response.headers
        let isHead = request.method == "HEAD"
        switch response.body {
        case _ where Self.hasNoBody(response.status):
            return await respondWithoutBody(response, request: request, keepAlive: keepAlive)
        case .bytes(let body):
            if headers["Connection"]?.lowercased() == "close" { keepAlive = false }
            headers.remove("Transfer-Encoding")
            headers.set("Content-Length", String(body.count))
            setConnectionHeader(&headers, keepAlive: keepAlive, version: request.version)
            var bytes = ResponseEncoder.head(status: response.status, headers: headers, version: request.version)
            if !isHead { bytes.append(contentsOf: body) }
            do { try await socket.write(bytes, deadline: ContinuousClock.now.advanced(by: limits.ioTimeout)) } catch { return false }
            return keepAlive
        case .stream(let produce):
            // HTTP/1.0 has no chunked framing: the body ends when the connection does.
            let chunked = request.version == .http11
            if !chunked { keepAlive = false }
            headers.remove("Content-Length")
            if chunked { headers.set("Transfer-Encoding", "chunked") }
            setConnectionHeader(&headers, keepAlive: keepAlive, version: request.version)
            do {
                try await socket.write(ResponseEncoder.head(status: response.status, headers: headers, version: request.version),
                                       deadline: ContinuousClock.now.advanced(by: limits.ioTimeout))
                if isHead { return keepAlive }
                try await produce(ResponseBodyWriter(socket: socket, chunked: chunked, writeTimeout: limits.ioTimeout))
                if chunked { try await socket.write(Array("0\r\n\r\n".utf8), deadline: ContinuousClock.now.advanced(by: limits.ioTimeout)) }
            } catch {
                // The body is cut off mid-way: the only honest signal left is closing the connection.
                return false
            }
            return keepAlive && !Task.isCancelled
        }
    }

    /// RFC 9112 §6.3: these responses end with their head.
    private static func hasNoBody(_ status: Int) -> Bool { status < 200 || status == 204 || status == 304 }

    /// Writes just the head: framing or body bytes after it would be read as the start of the
    /// next response (say, a proxy relaying an upstream's 204 as a stream).
    private func respondWithoutBody(_ response: HTTPResponse, request: HTTPRequest, keepAlive: Bool) async -> Bool {
        var keepAlive = keepAlive
        var headers = response.headers
        headers.remove("Transfer-Encoding")
        // A 304's Content-Length describes the representation, not this message: kept as given.
        if response.status != 304 { headers.remove("Content-Length") }
        if headers["Connection"]?.lowercased() == "close" { keepAlive = false }
        // A client takes a 1xx for an interim answer and would take the next request's response
        // for this one's final answer: after a 1xx as the final answer, only closing stays in step.
        if response.status < 200 { keepAlive = false }
        setConnectionHeader(&headers, keepAlive: keepAlive, version: request.version)
        do {
            try await socket.write(ResponseEncoder.head(status: response.status, headers: headers, version: request.version),
                                   deadline: ContinuousClock.now.advanced(by: limits.ioTimeout))
            // A producer may release what it holds (an upstream body) at its end: it runs, into nothing.
            if case .stream(let produce) = response.body {
                try await produce(ResponseBodyWriter(socket: socket, chunked: false, writeTimeout: limits.ioTimeout, discards: true))
            }
        } catch {
            return false
        }
        return keepAlive && !Task.isCancelled
    }

    private func setConnectionHeader(_ headers: inout HTTPHeaders, keepAlive: Bool, version: HTTPVersion) {
        if !keepAlive {
            headers.set("Connection", "close")
        } else if version == .http10 {
            headers.set("Connection", "keep-alive")
        }
    }

    private func sendError(_ status: Int, _ message: String) async {
        var response = errorResponder(status, message)
        guard case .bytes(let body) = response.body else { return }
        response.headers.set("Content-Length", String(body.count))
        response.headers.set("Connection", "close")
        let bytes = ResponseEncoder.head(status: status, headers: response.headers, version: .http11) + body
        try? await socket.write(bytes, deadline: ContinuousClock.now.advanced(by: .seconds(5)))
        // Closing with unread request bytes makes the kernel send a reset, which can destroy the
        // answer before the client reads it: half-close, then discard (never store) what still comes.
        socket.socket.shutdownWrite()
        let deadline = ContinuousClock.now.advanced(by: .seconds(2))
        var discarded = 0
        while discarded < 8 << 20, let bytes = try? await socket.read(deadline: deadline), !bytes.isEmpty {
            discarded += bytes.count
        }
    }
}
