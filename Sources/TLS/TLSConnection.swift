import CTLS
import Glibc
import Sockets
import Synchronization

/// TLS over one non-blocking socket on an event loop: OpenSSL does the records, the loop does
/// the waiting, so a TLS read parks a task, never a thread.
///
/// `@unchecked Sendable`: an `SSL` object must not be used by two threads at once, so every
/// OpenSSL call on it runs under `lock` (never held across a wait). That also lets a relay read
/// and write one connection from two tasks. `closed` is checked under the same lock, so no call
/// after `close()` reaches a descriptor number the kernel may have given to another socket; the
/// `SSL` is freed only in `deinit`, when nothing else can hold the connection.
public final class TLSConnection: @unchecked Sendable {
    public let socket: AsyncSocket
    private let ssl: OpaquePointer
    private let context: TLSContext
    private let closed = Atomic<Bool>(false)
    private let lock = Mutex<Void>(())

    private init(socket: AsyncSocket, ssl: OpaquePointer, context: TLSContext) {
        self.socket = socket
        self.ssl = ssl
        self.context = context
    }

    deinit {
        if !closed.load(ordering: .acquiring) { socket.close() }
        ctls_free(ssl)
    }

    /// Runs the client handshake on a connected socket, verifying `host` (name or IP) unless
    /// the context does not verify. On failure the socket is closed.
    public static func connect(_ socket: AsyncSocket, host: String, context: TLSContext,
                               deadline: ContinuousClock.Instant?) async throws -> TLSConnection {
        var error = [CChar](repeating: 0, count: 512)
        guard let ssl = ctls_client(context.raw, socket.fd, host, &error, error.count) else {
            socket.close()
            throw TLSError(.configuration, cText(error))
        }
        let connection = TLSConnection(socket: socket, ssl: ssl, context: context)
        try await connection.handshake(deadline: deadline)
        return connection
    }

    /// Runs the server handshake on an accepted socket.
    public static func accept(_ socket: AsyncSocket, context: TLSContext, deadline: ContinuousClock.Instant?) async throws -> TLSConnection {
        guard let ssl = ctls_server(context.raw, socket.fd) else {
            socket.close()
            throw TLSError(.configuration, "cannot create a TLS session")
        }
        let connection = TLSConnection(socket: socket, ssl: ssl, context: context)
        try await connection.handshake(deadline: deadline)
        return connection
    }

    private func handshake(deadline: ContinuousClock.Instant?) async throws {
        do {
            while true {
                try checkOpen()
                let rc = try locked { ctls_handshake(ssl) }
                switch rc {
                case Code.ok: return
                case Code.wantRead: try await socket.loop.wait(socket.fd, for: .read, deadline: deadline)
                case Code.wantWrite: try await socket.loop.wait(socket.fd, for: .write, deadline: deadline)
                case Code.eof, Code.abruptEOF:
                    throw TLSError(.handshake, "connection closed during the TLS handshake")
                case Code.syscall:
                    throw SocketError.system(call: "TLS handshake", errno: errno)
                default:
                    throw TLSError(.handshake, describeError())
                }
            }
        } catch {
            close()
            throw error
        }
    }

    /// Reads what is available (up to `maxBytes`), waiting if nothing is. Empty result = EOF,
    /// with or without close_notify: many servers skip it (as curl does, we accept that), and
    /// HTTP framing — Content-Length, chunked — is what tells a cut body from a whole one.
    public func read(maxBytes: Int = 64 * 1024, deadline: ContinuousClock.Instant? = nil) async throws -> [UInt8] {
        while true {
            try checkOpen()
            var bytes: [UInt8] = []
            var last = Code.wantRead
            try withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 1) { scratch in
                // One SSL_read returns one record (≤ 16 KiB): gather what is already here.
                while bytes.count < maxBytes {
                    let rc = try locked { ctls_read(ssl, scratch.baseAddress, Int32(min(scratch.count, maxBytes - bytes.count))) }
                    last = rc
                    guard rc > 0 else { break }
                    bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<Int(rc)]))
                }
                if last == Code.syscall { throw SocketError.system(call: "recv", errno: errno) }
            }
            if !bytes.isEmpty { return bytes }
            switch last {
            case Code.wantRead: try await socket.loop.wait(socket.fd, for: .read, deadline: deadline)
            case Code.wantWrite: try await socket.loop.wait(socket.fd, for: .write, deadline: deadline)
            case Code.eof, Code.abruptEOF: return []
            default: throw TLSError(.protocolError, describeError())
            }
        }
    }

    /// Writes every byte, waiting for the peer when its window is full.
    public func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant? = nil) async throws {
        var offset = 0
        while offset < bytes.count {
            try checkOpen()
            let rc = try bytes.withUnsafeBytes { raw in
                try locked { ctls_write(ssl, raw.baseAddress! + offset, Int32(min(raw.count - offset, Int(Int32.max)))) }
            }
            switch rc {
            case let n where n > 0: offset += Int(n)
            case Code.wantWrite: try await socket.loop.wait(socket.fd, for: .write, deadline: deadline)
            case Code.wantRead: try await socket.loop.wait(socket.fd, for: .read, deadline: deadline)
            case Code.syscall: throw SocketError.system(call: "send", errno: errno)
            case Code.eof, Code.abruptEOF: throw SocketError.closed
            default: throw TLSError(.protocolError, describeError())
            }
        }
    }

    /// For the pool: true when nothing but TLS housekeeping (session tickets) is waiting, i.e.
    /// the server has not closed the connection or sent something unasked.
    public func isIdle() -> Bool {
        guard socket.socket.hasPendingInput() else { return !closed.load(ordering: .acquiring) }
        return (try? locked { ctls_peek_idle(ssl) }) == Code.wantRead
    }

    /// Sends close_notify (best effort, never waits) and closes the socket. Idempotent.
    public func close() {
        lock.withLock { _ in
            guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
            ctls_shutdown(ssl)
            socket.close()
        }
    }

    /// Closes with an RST instead of a FIN (tests: a peer that resets).
    public func reset() {
        lock.withLock { _ in
            guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(socket.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            socket.close()
        }
    }

    private func checkOpen() throws {
        if closed.load(ordering: .acquiring) { throw SocketError.closed }
    }

    /// One OpenSSL call, alone on this connection and only while it is open.
    private func locked(_ call: () -> Int32) throws -> Int32 {
        try lock.withLock { _ in
            if closed.load(ordering: .acquiring) { throw SocketError.closed }
            return call()
        }
    }

    private func describeError() -> String {
        var text = [CChar](repeating: 0, count: 512)
        lock.withLock { _ in ctls_describe_error(ssl, &text, text.count) }
        return cText(text)
    }
}
