import Sockets
import TLS

/// One connection to an upstream, plain or TLS: the HTTP/1.1 client reads and writes bytes and
/// does not care which.
enum UpstreamConnection: Sendable {
    case plain(AsyncSocket)
    case tls(TLSConnection)

    func read(deadline: ContinuousClock.Instant?) async throws -> [UInt8] {
        switch self {
        case .plain(let socket): return try await socket.read(deadline: deadline)
        case .tls(let connection): return try await connection.read(deadline: deadline)
        }
    }

    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) async throws {
        switch self {
        case .plain(let socket): try await socket.write(bytes, deadline: deadline)
        case .tls(let connection): try await connection.write(bytes, deadline: deadline)
        }
    }

    /// An idle HTTP connection has nothing to read; a readable one was closed (or sent garbage).
    /// TLS may have session tickets waiting, which do not count.
    var isIdle: Bool {
        switch self {
        case .plain(let socket): return !socket.socket.hasPendingInput()
        case .tls(let connection): return connection.isIdle()
        }
    }

    func close() {
        switch self {
        case .plain(let socket): socket.close()
        case .tls(let connection): connection.close()
        }
    }
}
