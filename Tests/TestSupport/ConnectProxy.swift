import Foundation
import Glibc
import Synchronization

/// A small HTTP CONNECT proxy on loopback, blocking threads: reads `CONNECT host:port`, opens a
/// TCP connection there, answers `200 Connection established` and splices bytes both ways until
/// both sides have closed. It records every CONNECT it saw (target and `Proxy-Authorization`),
/// and with `requiredAuthorization` answers 407 to any CONNECT that does not carry exactly that.
final class ConnectProxy: Sendable {
    struct Seen: Sendable, Equatable {
        let target: String
        let authorization: String?
    }

    let port: UInt16
    private let listener: LoopbackListener
    private let seen = Locked<[Seen]>([])
    private let firstTunnelBytes = Locked<[[UInt8]]>([])

    var url: String { "http://127.0.0.1:\(port)" }
    /// Every CONNECT request, in order.
    var connects: [Seen] { seen.value }
    var targets: [String] { seen.value.map(\.target) }
    /// The first bytes the client sent through each opened tunnel (TLS: a handshake record, 0x16).
    var tunnelOpenings: [[UInt8]] { firstTunnelBytes.value }

    init(requiredAuthorization: String? = nil) throws {
        let seen = self.seen, openings = firstTunnelBytes
        listener = LoopbackListener { client in
            Self.serve(client, requiredAuthorization: requiredAuthorization, seen: seen, firstTunnelBytes: openings)
        }
        port = listener.port
    }

    func stop() { listener.stop() }

    private static func serve(_ client: Int32, requiredAuthorization: String?, seen: Locked<[Seen]>, firstTunnelBytes: Locked<[[UInt8]]>) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let (head, early) = Self.readHead(client) else { Glibc.close(client); return }
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        let authorization = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
        guard parts.count == 3, parts[0] == "CONNECT" else {
            Self.send(client, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            Glibc.close(client)
            return
        }
        let target = String(parts[1])
        seen.update { $0.append(Seen(target: target, authorization: authorization)) }
        if let requiredAuthorization, authorization != requiredAuthorization {
            Self.send(client, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            Glibc.close(client)
            return
        }
        guard let colon = target.lastIndex(of: ":"), let port = UInt16(target[target.index(after: colon)...]),
              let server = Self.connect(host: String(target[..<colon]), port: port) else {
            Self.send(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            Glibc.close(client)
            return
        }
        Self.send(client, "HTTP/1.1 200 Connection established\r\n\r\n")
        if !early.isEmpty { _ = Self.send(server, early) }
        let recorded = Locked<Bool>(!early.isEmpty)
        if !early.isEmpty { firstTunnelBytes.update { $0.append(Array(early.prefix(16))) } }
        let upstreamDone = DispatchSemaphore(value: 0)
        let toServer = Thread {
            Self.pump(from: client, to: server) { bytes in
                let first = recorded.update { done -> Bool in defer { done = true }; return !done }
                if first { firstTunnelBytes.update { $0.append(Array(bytes.prefix(16))) } }
            }
            upstreamDone.signal()
        }
        toServer.start()
        Self.pump(from: server, to: client) { _ in }
        upstreamDone.wait()
        Glibc.close(client)
        Glibc.close(server)
    }

    /// Copies until EOF (or an error) on `from`, then half-closes `to`.
    private static func pump(from: Int32, to: Int32, observe: ([UInt8]) -> Void) {
        var timeout = timeval(tv_sec: 0, tv_usec: 0)  // the tunnel may idle: no receive timeout
        setsockopt(from, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = recv(from, &buffer, buffer.count, 0)
            if n <= 0 { break }
            let bytes = Array(buffer[0..<n])
            observe(bytes)
            if !send(to, bytes) { break }
        }
        shutdown(to, Int32(SHUT_WR))
    }

    private static func readHead(_ fd: Int32) -> (String, [UInt8])? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < 64 * 1024 {
            if let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                return (String(decoding: data[..<end.lowerBound], as: UTF8.self), Array(data[end.upperBound...]))
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return nil }
            data.append(contentsOf: buffer[0..<n])
        }
        return nil
    }

    private static func connect(host: String, port: UInt16) -> Int32? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { return nil }
        defer { freeaddrinfo(result) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { Glibc.close(fd); return nil }
        return fd
    }

    @discardableResult
    private static func send(_ fd: Int32, _ text: String) -> Bool { send(fd, Array(text.utf8)) }

    @discardableResult
    private static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}
