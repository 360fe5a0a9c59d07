import Dispatch
import Glibc

/// A registered non-blocking socket whose reads and writes suspend the calling task (never a
/// thread) until the event loop reports readiness.
public struct AsyncSocket: Sendable, Hashable {
    public let socket: Socket
    public var fd: Int32 { socket.fd }
    /// The loop that watches this socket; tasks serving it prefer this loop as their executor.
    public let loop: EventLoop

    /// Registers with `loop`, or with the caller's own loop (else the next one in turn).
    public init(_ socket: Socket, loop: EventLoop? = nil) throws {
        self.socket = socket
        self.loop = loop ?? EventLoopGroup.shared.any()
        try self.loop.register(socket.fd)
    }

    public static func == (a: AsyncSocket, b: AsyncSocket) -> Bool { a.socket == b.socket }
    public func hash(into hasher: inout Hasher) { hasher.combine(socket) }

    /// Connects to `host:port`; names are resolved on a Dispatch queue so no pool thread blocks.
    public static func connect(host: String, port: UInt16, deadline: ContinuousClock.Instant?, loop: EventLoop? = nil) async throws -> AsyncSocket {
        let address: SocketAddress
        if let literal = SocketAddress.literal(host.trimmingBrackets, port: port) {
            address = literal
        } else {
            address = try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result { try SocketAddress.resolveBlocking(host: host, port: port) })
                }
            }
        }
        let (raw, inProgress) = try Socket.startConnect(to: address)
        let socket: AsyncSocket
        do { socket = try AsyncSocket(raw, loop: loop) } catch { raw.close(); throw error }
        if inProgress {
            do {
                try await socket.loop.wait(raw.fd, for: .write, deadline: deadline)
                let code = raw.pendingError()
                if code != 0 { throw SocketError.system(call: "connect", errno: code) }
            } catch {
                socket.close()
                throw error
            }
        }
        return socket
    }

    /// Reads what is available (up to `maxBytes`), waiting if nothing is. Empty result = EOF.
    /// The scratch buffer is the loop's (or temporary): a connection holds only the bytes it received.
    public func read(maxBytes: Int = 64 * 1024, deadline: ContinuousClock.Instant? = nil) async throws -> [UInt8] {
        func receive(_ scratch: UnsafeMutableRawBufferPointer) throws -> (Socket.IOResult, [UInt8]) {
            let result = try socket.receive(into: scratch)
            if case .bytes(let n) = result { return (result, Array(scratch[0..<n])) }
            return (result, [])
        }
        while true {
            let result: Socket.IOResult, bytes: [UInt8]
            if let current = EventLoopGroup.shared.current {
                (result, bytes) = try receive(UnsafeMutableRawBufferPointer(rebasing: current.scratch[0..<min(maxBytes, current.scratch.count)]))
            } else {
                (result, bytes) = try withUnsafeTemporaryAllocation(byteCount: maxBytes, alignment: 1) { try receive($0) }
            }
            switch result {
            case .bytes: return bytes
            case .eof: return []
            case .wouldBlock: try await loop.wait(fd, for: .read, deadline: deadline)
            }
        }
    }

    /// Writes every byte, waiting for writability when the peer reads slowly (bounded memory:
    /// the caller's buffer is all we hold).
    public func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant? = nil) async throws {
        var offset = 0
        while offset < bytes.count {
            let result = try bytes.withUnsafeBytes { raw in
                try socket.send(UnsafeRawBufferPointer(rebasing: raw[offset...]))
            }
            switch result {
            case .bytes(let n): offset += n
            case .eof: throw SocketError.closed
            case .wouldBlock: try await loop.wait(fd, for: .write, deadline: deadline)
            }
        }
    }

    /// Waits until the peer has sent something or hung up, without consuming anything.
    public func waitReadable(deadline: ContinuousClock.Instant? = nil) async throws {
        try await loop.wait(fd, for: .read, deadline: deadline)
    }

    public func close() {
        loop.deregister(fd)
        socket.close()
    }
}

extension String {
    var trimmingBrackets: String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
