import Foundation
import Glibc

/// A blocking listening socket on 127.0.0.1 (port picked by the kernel) whose accepted
/// connections each get a thread: the shape every scripted peer of the tests shares.
final class LoopbackListener: Sendable {
    let port: UInt16
    private let fd: Int32
    private let stopped = Locked(false)

    /// `handle` runs on its own thread for each accepted descriptor; it owns (and closes) it.
    init(_ handle: @escaping @Sendable (Int32) -> Void) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(rc == 0 && listen(fd, 128) == 0)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = UInt16(bigEndian: bound.sin_port)
        self.fd = fd
        let acceptor = Thread { [stopped] in
            while !stopped.value {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 50) > 0 else { continue }
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                Thread { handle(client) }.start()
            }
        }
        acceptor.start()
    }

    /// Stops accepting (the acceptor polls every 50 ms) and closes the listening socket.
    func stop() {
        guard !stopped.update({ was in defer { was = true }; return was }) else { return }
        usleep(60_000)
        Glibc.close(fd)
    }
}
