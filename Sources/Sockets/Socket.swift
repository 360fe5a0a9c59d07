import CSystem
import Glibc

/// A non-blocking POSIX socket descriptor and the syscalls on it. Never blocks.
public struct Socket: Sendable, Hashable {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    public enum IOResult: Equatable {
        case bytes(Int)
        case wouldBlock
        case eof
    }

    /// A listening TCP socket bound to `host:port` (IPv4 or IPv6 literal, or "localhost").
    public static func listen(host: String, port: UInt16, backlog: Int32 = 1024) throws -> Socket {
        let address = try SocketAddress.resolve(host: host, port: port)
        let fd = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.last("socket") }
        let socket = Socket(fd: fd)
        do {
            try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1)
            if address.family == AF_INET6 { try? socket.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            let rc = address.withSockaddr { Glibc.bind(fd, $0, $1) }
            guard rc == 0 else { throw SocketError.last("bind") }
            guard Glibc.listen(fd, backlog) == 0 else { throw SocketError.last("listen") }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return socket
    }

    /// Starts a non-blocking connect; completion is signalled by writability (see AsyncSocket.connect).
    static func startConnect(to address: SocketAddress) throws -> (Socket, inProgress: Bool) {
        let fd = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.last("socket") }
        let socket = Socket(fd: fd)
        try? socket.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return (socket, false) }
        if errno == EINPROGRESS { return (socket, true) }
        let error = SocketError.last("connect")
        Glibc.close(fd)
        throw error
    }

    /// The local port (useful after binding port 0).
    public func localPort() -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { ptr -> UInt16 in
            if family == sa_family_t(AF_INET6) {
                return ptr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return ptr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    public func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SocketError.last("setsockopt")
        }
    }

    /// Pending socket error after a non-blocking connect.
    func pendingError() -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    /// Accepts one connection, already non-blocking and close-on-exec; nil when none is pending.
    public func accept() throws -> Socket? {
        while true {
            let client = csystem_accept4(fd)
            if client >= 0 { return Socket(fd: client) }
            switch errno {
            case EINTR, ECONNABORTED: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw SocketError.last("accept4")
            }
        }
    }

    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .eof }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SocketError.last("recv")
            }
        }
    }

    public func send(_ buffer: UnsafeRawBufferPointer) throws -> IOResult {
        while true {
            let n = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SocketError.last("send")
            }
        }
    }

    /// True when bytes (or end-of-stream) are waiting to be read, without consuming them.
    public func hasPendingInput() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// True once the peer has sent FIN or RST, even with received bytes still unread: lets a
    /// connection that stopped reading (its buffer is full) still notice the client leaving.
    public func peerHasClosed() -> Bool { csystem_tcp_peer_closed(fd) == 1 }

    public func shutdownWrite() { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }

    public func close() { _ = Glibc.close(fd) }
}
