import HTTP1Codec
import Sockets

/// Reads one response body off a pooled connection and gives the connection back once the body
/// ended cleanly; any other ending closes it.
actor HTTP1BodyReader: UpstreamBody {
    private var socket: UpstreamConnection?
    private let framing: ResponseHead.Framing
    private var pending: [UInt8]
    private var remaining: Int
    private var chunked = ChunkedDecoder(maxBodyBytes: Int.max)
    private let keepAlive: Bool
    private let pool: ConnectionPool
    private let key: String
    private let idleTimeout: Duration

    init(connection: UpstreamConnection, framing: ResponseHead.Framing, pending: [UInt8], keepAlive: Bool, pool: ConnectionPool, key: String, idleTimeout: Duration) {
        self.socket = connection
        self.framing = framing
        self.pending = pending
        self.keepAlive = keepAlive
        self.pool = pool
        self.key = key
        self.idleTimeout = idleTimeout
        if case .length(let n) = framing { remaining = n } else { remaining = 0 }
    }

    deinit { socket?.close() }

    func next() async throws(UpstreamError) -> [UInt8]? {
        guard let socket else { return nil }
        do {
            switch framing {
            case .none:
                finish(reuse: pending.isEmpty)
                return nil
            case .length:
                if remaining == 0 { finish(reuse: pending.isEmpty); return nil }
                if pending.isEmpty { pending = try await read(socket, eofIsError: true) }
                let piece = Array(pending.prefix(remaining))
                pending.removeFirst(piece.count)
                remaining -= piece.count
                if remaining == 0 { finish(reuse: pending.isEmpty) }
                return piece
            case .chunked:
                while true {
                    let used = try chunked.feed(pending[...])
                    pending.removeFirst(used)
                    let piece = chunked.takeBody()
                    if chunked.isComplete {
                        finish(reuse: pending.isEmpty)
                        return piece.isEmpty ? nil : piece
                    }
                    if !piece.isEmpty { return piece }
                    pending = try await read(socket, eofIsError: true)
                }
            case .untilClose:
                if !pending.isEmpty { defer { pending = [] }; return pending }
                let bytes = try await read(socket, eofIsError: false)
                if bytes.isEmpty { finish(reuse: false); return nil }
                return bytes
            }
        } catch let error as UpstreamError {
            finish(reuse: false)
            throw error
        } catch let error as ChunkedDecoder.Failure {
            finish(reuse: false)
            if case .malformed(let why) = error { throw .malformed("invalid chunked encoding: \(why)") }
            throw .malformed("invalid chunked encoding")
        } catch {
            finish(reuse: false)
            throw HTTP1Client.map(error, connecting: false, started: true)
        }
    }

    func cancel() { finish(reuse: false) }

    /// Servers usually send the chunked terminator right after `[DONE]`, often in a separate write.
    func drain() async {
        drainDeadline = ContinuousClock.now.advanced(by: .milliseconds(250))
        var budget = 64 * 1024
        while socket != nil {
            guard let piece = try? await next() else { break }
            budget -= piece.count
            if budget < 0 { finish(reuse: false) }
        }
        finish(reuse: false)
    }

    /// Set while a read must end sooner than the idle timeout (draining, a finish grace).
    private var drainDeadline: ContinuousClock.Instant?

    /// The next piece, or `.timeout` once `limit` passes with nothing read: a socket deadline, so
    /// waiting costs no extra task.
    func next(within limit: Duration) async throws(UpstreamError) -> [UInt8]? {
        drainDeadline = ContinuousClock.now.advanced(by: limit)
        defer { drainDeadline = nil }
        return try await next()
    }

    private func read(_ socket: UpstreamConnection, eofIsError: Bool) async throws -> [UInt8] {
        let bytes = try await socket.read(deadline: drainDeadline ?? ContinuousClock.now.advanced(by: idleTimeout))
        if bytes.isEmpty, eofIsError { throw UpstreamError.truncated("connection closed mid-body") }
        return bytes
    }

    private func finish(reuse: Bool) {
        guard let socket else { return }
        self.socket = nil
        if reuse, keepAlive { pool.put(socket, key: key) } else { socket.close() }
    }
}
