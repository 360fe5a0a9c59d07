import Glibc
import Sockets
import Synchronization

/// Idle keep-alive connections per upstream host, so a request does not pay a TCP handshake.
final class ConnectionPool: Sendable {
    private let idle = Mutex<[String: [UpstreamConnection]]>([:])
    let maxIdlePerHost: Int

    init(maxIdlePerHost: Int = 256) { self.maxIdlePerHost = maxIdlePerHost }

    deinit {
        idle.withLock { pool in
            for socket in pool.values.joined() { socket.close() }
        }
    }

    /// A pooled connection that still looks open, if any.
    func take(_ key: String) -> UpstreamConnection? {
        while let socket = idle.withLock({ $0[key]?.popLast() }) {
            if socket.isIdle { return socket }
            socket.close()
        }
        return nil
    }

    func put(_ socket: UpstreamConnection, key: String) {
        let kept = idle.withLock { pool -> Bool in
            guard pool[key, default: []].count < maxIdlePerHost else { return false }
            pool[key, default: []].append(socket)
            return true
        }
        if !kept { socket.close() }
    }
}
