import CSystem
import Glibc

/// An IPv4 or IPv6 socket address, resolved without blocking DNS for literals and "localhost".
public struct SocketAddress: Sendable {
    enum Storage: Sendable { case v4(sockaddr_in), v6(sockaddr_in6) }
    let storage: Storage

    var family: Int32 {
        switch storage { case .v4: return AF_INET; case .v6: return AF_INET6 }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch storage {
        case .v4(var a):
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(var a):
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    /// Literal addresses parse directly; names go through getaddrinfo, which may block, so callers
    /// resolve names off the hot path (see `resolveBlocking`).
    public static func resolve(host: String, port: UInt16) throws -> SocketAddress {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if let literal = literal(name, port: port) { return literal }
        return try resolveBlocking(host: name, port: port)
    }

    static func literal(_ host: String, port: UInt16) -> SocketAddress? {
        let h = host == "localhost" ? "127.0.0.1" : host
        var a4 = sockaddr_in()
        if inet_pton(AF_INET, h, &a4.sin_addr) == 1 {
            a4.sin_family = sa_family_t(AF_INET)
            a4.sin_port = port.bigEndian
            return SocketAddress(storage: .v4(a4))
        }
        var a6 = sockaddr_in6()
        if inet_pton(AF_INET6, h, &a6.sin6_addr) == 1 {
            a6.sin6_family = sa_family_t(AF_INET6)
            a6.sin6_port = port.bigEndian
            return SocketAddress(storage: .v6(a6))
        }
        return nil
    }

    static func resolveBlocking(host: String, port: UInt16) throws -> SocketAddress {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw SocketError.addressInvalid(host)
        }
        defer { freeaddrinfo(result) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            if info.pointee.ai_family == AF_INET, let addr = info.pointee.ai_addr {
                return SocketAddress(storage: .v4(addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }))
            }
            if info.pointee.ai_family == AF_INET6, let addr = info.pointee.ai_addr {
                return SocketAddress(storage: .v6(addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }))
            }
            node = info.pointee.ai_next
        }
        throw SocketError.addressInvalid(host)
    }
}
