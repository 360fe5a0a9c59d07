import Glibc
import Sockets
import TLS

/// Opens upstream connections: TCP (directly, or through a proxy's CONNECT tunnel), then TLS
/// for `https://`. Every failure names the URL it tried, so a 502 says where to look.
struct Connector: Sendable {
    /// Built on the first https call.
    let tls: LazyTLS
    let proxies: ProxyRules

    func open(_ endpoint: UpstreamEndpoint, deadline: ContinuousClock.Instant) async throws(UpstreamError) -> UpstreamConnection {
        let origin = "\(endpoint.scheme.rawValue)://\(endpoint.hostHeader)"
        let socket: AsyncSocket
        if let proxy = proxies.server(for: endpoint) {
            socket = try await tcp(host: proxy.host, port: proxy.port, deadline: deadline, naming: "proxy \(proxy)")
            do {
                try await tunnel(socket, to: endpoint, via: proxy, deadline: deadline)
            } catch {
                socket.close()
                throw error
            }
        } else {
            socket = try await tcp(host: endpoint.host, port: endpoint.port, deadline: deadline, naming: origin)
        }
        guard endpoint.scheme == .https else { return .plain(socket) }
        let context: TLSContext
        do { context = try tls.get() } catch {
            socket.close()
            throw .unreachable("cannot call \(origin): TLS is not set up (\(error.description))")
        }
        do {
            return .tls(try await TLSConnection.connect(socket, host: endpoint.bareHost, context: context, deadline: deadline))
        } catch SocketError.timedOut {
            throw .unreachable("TLS handshake with \(origin) timed out")
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .unreachable("TLS handshake with \(origin) failed: \(error)")
        }
    }

    private func tcp(host: String, port: UInt16, deadline: ContinuousClock.Instant, naming target: String) async throws(UpstreamError) -> AsyncSocket {
        do {
            return try await AsyncSocket.connect(host: host, port: port, deadline: deadline)
        } catch SocketError.timedOut {
            throw .unreachable("connecting to \(target) timed out")
        } catch SocketError.addressInvalid {
            throw .unreachable("cannot resolve the host of \(target)")
        } catch SocketError.system(_, let code) {
            throw .unreachable("cannot connect to \(target): \(String(cString: strerror(code)))")
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .unreachable("cannot connect to \(target): \(error)")
        }
    }

    /// `CONNECT host:port` through a forward proxy; any 2xx opens the tunnel.
    private func tunnel(_ socket: AsyncSocket, to endpoint: UpstreamEndpoint, via proxy: ProxyServer,
                        deadline: ContinuousClock.Instant) async throws(UpstreamError) {
        let authority = endpoint.host.contains(":") && !endpoint.host.hasPrefix("[")
            ? "[\(endpoint.host)]:\(endpoint.port)" : "\(endpoint.host):\(endpoint.port)"
        var head = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let authorization = proxy.authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        head += "\r\n"
        var reader = HeadReader(connection: .plain(socket), idleTimeout: .seconds(60))
        let answer: ResponseHead?
        do {
            try await socket.write(Array(head.utf8), deadline: deadline)
            answer = try await reader.read(within: deadline - .now)
        } catch let error as UpstreamError {
            throw .unreachable("proxy \(proxy) sent a malformed answer to CONNECT \(authority): \(error.description)")
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .unreachable("proxy \(proxy) failed during CONNECT \(authority): \(error)")
        }
        guard let answer else { throw .unreachable("proxy \(proxy) closed the connection during CONNECT \(authority)") }
        guard (200..<300).contains(answer.status) else {
            throw .unreachable("proxy \(proxy) refused CONNECT \(authority) with HTTP \(answer.status)")
        }
        guard reader.received.count == answer.consumed else {
            throw .unreachable("proxy \(proxy) sent bytes before the tunnel was used")
        }
    }
}

extension UpstreamEndpoint {
    /// The host without IPv6 brackets: what TLS verifies and names in SNI.
    var bareHost: String { host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host }
}
