import Glibc

/// A deliberately simple, blocking HTTP/1.x client on a raw POSIX socket. It runs on the test's
/// own thread (never on the server's), sends exactly the bytes it is given and parses what comes
/// back strictly, so framing mistakes of the server show up as failures.
final class RawClient {
    enum ClientError: Error, Equatable, CustomStringConvertible {
        case connect(Int32)
        case timedOut
        case closed
        case malformed(String)

        var description: String {
            switch self {
            case .connect(let e): return "connect failed: \(String(cString: strerror(e)))"
            case .timedOut: return "timed out"
            case .closed: return "connection closed by the server"
            case .malformed(let why): return "malformed response: \(why)"
            }
        }
    }

    let fd: Int32
    /// Bytes received and not yet consumed by `readResponse`.
    var pending: [UInt8] = []
    private var sawEOF = false
    private var isClosed = false

    init(port: UInt16, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0, "socket() failed")
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            throw ClientError.connect(e)
        }
    }

    deinit { close() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    /// Closes with a reset (SO_LINGER 0), like a client that crashed.
    func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    func shutdownWrite() { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }

    func setReceiveBuffer(_ bytes: Int32) {
        var v = bytes
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends every byte; throws `.closed` when the server has gone away.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError.closed
            }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Waits up to `timeout` seconds for bytes; appends them to `pending`. Returns the number
    /// received, 0 at end of stream, nil on timeout.
    @discardableResult
    func receiveSome(timeout: Double) -> Int? {
        if sawEOF { return 0 }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&pfd, 1, Int32(timeout * 1000))
        if rc == 0 { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 {
            sawEOF = true
            return 0
        }
        pending.append(contentsOf: buffer[..<n])
        return n
    }

    /// True once the server closed the connection (EOF or reset) within `timeout` seconds;
    /// whatever arrives first is kept in `pending`.
    func waitForClose(timeout: Double) -> Bool {
        let deadline = now() + timeout
        while true {
            let left = deadline - now()
            if left <= 0 { return false }
            guard let n = receiveSome(timeout: left) else { return false }
            if n == 0 { return true }
        }
    }

    /// Reads until the server closes (or the timeout passes) and returns everything pending.
    func readToEnd(timeout: Double) -> [UInt8] {
        _ = waitForClose(timeout: timeout)
        defer { pending = [] }
        return pending
    }

    /// Reads exactly `count` more bytes (beyond what is pending) or throws.
    func readExactly(_ count: Int, timeout: Double) throws -> [UInt8] {
        let deadline = now() + timeout
        while pending.count < count {
            let left = deadline - now()
            guard left > 0, let n = receiveSome(timeout: left) else { throw ClientError.timedOut }
            if n == 0 { throw ClientError.closed }
        }
        let out = Array(pending[..<count])
        pending.removeFirst(count)
        return out
    }

    /// Reads the next response: interim 1xx responses are returned like any other.
    func readResponse(timeout: Double = 5, isHead: Bool = false) throws -> RawResponse {
        let deadline = now() + timeout
        func more() throws {
            let left = deadline - now()
            guard left > 0, let n = receiveSome(timeout: left) else { throw ClientError.timedOut }
            if n == 0 { throw ClientError.closed }
        }
        while true {
            if let end = RawResponse.headEnd(pending) {
                var response = try RawResponse.parseHead(Array(pending[..<end]))
                pending.removeFirst(end)
                if isHead || (100..<200).contains(response.status) || response.status == 204 || response.status == 304 {
                    return response
                }
                if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
                    while true {
                        switch try RawResponse.decodeChunked(pending) {
                        case .incomplete: try more()
                        case .complete(let chunks, let consumed):
                            response.chunks = chunks
                            response.body = chunks.flatMap { $0 }
                            pending.removeFirst(consumed)
                            return response
                        }
                    }
                }
                if let cl = response.header("Content-Length") {
                    guard let length = Int(cl) else { throw ClientError.malformed("Content-Length \(cl)") }
                    while pending.count < length { try more() }
                    response.body = Array(pending[..<length])
                    pending.removeFirst(length)
                    return response
                }
                // Delimited by close.
                while true {
                    let left = deadline - now()
                    guard left > 0, let n = receiveSome(timeout: left) else { throw ClientError.timedOut }
                    if n == 0 { break }
                }
                response.body = pending
                pending = []
                return response
            }
            if sawEOF {
                throw pending.isEmpty ? ClientError.closed : ClientError.malformed("connection closed inside the head")
            }
            try more()
        }
    }

    /// Reads just the head of the next response (for streamed bodies read piece by piece).
    func readHead(timeout: Double = 5) throws -> RawResponse {
        let deadline = now() + timeout
        while RawResponse.headEnd(pending) == nil {
            let left = deadline - now()
            guard left > 0, let n = receiveSome(timeout: left) else { throw ClientError.timedOut }
            if n == 0 { throw ClientError.closed }
        }
        let end = RawResponse.headEnd(pending)!
        let head = try RawResponse.parseHead(Array(pending[..<end]))
        pending.removeFirst(end)
        return head
    }

    /// Reads the next chunk of a chunked body (after `readHead`); nil after the last chunk.
    func readChunk(timeout: Double = 5) throws -> [UInt8]? {
        let deadline = now() + timeout
        while true {
            if let lineEnd = RawResponse.findCRLF(pending, from: 0) {
                let sizeText = String(decoding: pending[..<lineEnd], as: UTF8.self)
                guard let size = Int(sizeText, radix: 16) else { throw ClientError.malformed("chunk size '\(sizeText)'") }
                let end = lineEnd + 2 + size + 2
                if pending.count >= end {
                    guard pending[end - 2] == 13, pending[end - 1] == 10 else { throw ClientError.malformed("chunk not followed by CRLF") }
                    let chunk = Array(pending[(lineEnd + 2)..<(end - 2)])
                    pending.removeFirst(end)
                    return size == 0 ? nil : chunk
                }
            }
            let left = deadline - now()
            guard left > 0, let n = receiveSome(timeout: left) else { throw ClientError.timedOut }
            if n == 0 { throw ClientError.closed }
        }
    }

    /// One request, one response (the common case).
    func exchange(_ request: String, timeout: Double = 5) throws -> RawResponse {
        try send(request)
        return try readResponse(timeout: timeout)
    }
}
