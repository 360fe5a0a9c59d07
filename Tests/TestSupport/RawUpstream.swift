import Foundation
import Glibc
import Synchronization

/// An upstream that answers with exactly the bytes a test scripts, over a real loopback socket:
/// for the answers no well-behaved server gives (interim 1xx heads, smuggled header bytes, absurd
/// numbers, early closes). Each connection runs the handler on its own thread, blocking.
final class RawUpstream: Sendable {
    let port: UInt16
    private let listener: LoopbackListener
    private let accepted = Locked(0)

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    var connectionsAccepted: Int { accepted.value }

    init(_ handler: @escaping @Sendable (RawUpstreamConnection) -> Void) throws {
        let accepted = self.accepted
        listener = LoopbackListener { client in
            accepted.update { $0 += 1 }
            let connection = RawUpstreamConnection(fd: client)
            handler(connection)
            connection.close()
        }
        port = listener.port
    }

    func stop() { listener.stop() }
}

/// One accepted connection, driven by a blocking handler.
final class RawUpstreamConnection: Sendable {
    let fd: Int32
    private let closed = Atomic<Bool>(false)
    private let written = Atomic<Int>(0)
    /// Bytes the handler managed to hand to the kernel so far.
    var bytesWritten: Int { written.load(ordering: .relaxed) }

    init(fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads one request head; with `body`, also a Content-Length body. nil on EOF or timeout.
    @discardableResult
    func readRequest(body: Bool = true) -> (head: String, body: [UInt8])? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                var rest = Array(data[end.upperBound...])
                guard body else { return (head, rest) }
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                while rest.count < length {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { return nil }
                    rest.append(contentsOf: buffer[0..<n])
                }
                return (head, rest)
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return nil }
            data.append(contentsOf: buffer[0..<n])
        }
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
            written.add(n, ordering: .relaxed)
        }
        return true
    }

    @discardableResult
    func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// A complete response with Content-Length.
    func respond(status: Int = 200, contentType: String = "application/json", headers: String = "", body: String) {
        write("HTTP/1.1 \(status) X\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n\(headers)\r\n" + body)
    }

    /// Blocks until the peer closes (or `seconds` pass); true when it closed.
    func waitForPeerClose(seconds: Double) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 || (n < 0 && errno != EAGAIN) { return true }
        }
        return false
    }

    func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        Glibc.close(fd)
    }

    /// Closes with a reset (SO_LINGER 0).
    func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }
}

/// An OpenAI chat completion, as an upstream would send it.
func completionJSON(content: String = "Hello", usage: String? = #"{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}"#,
                    extraMessage: String = "") -> String {
    let u = usage.map { #","usage":\#($0)"# } ?? ""
    return #"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"\#(content)"\#(extraMessage)},"finish_reason":"stop"}]\#(u)}"#
}

/// One SSE event with a chunk whose delta is `delta` (a JSON object text).
func chunkEvent(delta: String, finish: String? = nil, usage: String? = nil) -> String {
    let f = finish.map { "\"\($0)\"" } ?? "null"
    let u = usage.map { #","usage":\#($0)"# } ?? ""
    return #"data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":\#(delta),"finish_reason":\#(f)}]\#(u)}"# + "\n\n"
}
