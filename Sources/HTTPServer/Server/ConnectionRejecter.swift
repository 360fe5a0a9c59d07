import Sockets
import Synchronization

/// Answers a connection over the cap with 503 and closes it so that the answer survives: closing
/// at once, with request bytes unread, makes the kernel send a reset that can destroy the answer
/// before the client reads it. So: answer, half-close, discard what the client still sends for a
/// short while, then close. Never blocks the accept loop.
final class ConnectionRejecter: Sendable {
    /// Refused connections lingering at once; past this (a flood), they are closed at once.
    static let maxLingering = 64
    static let lingerTime: Duration = .seconds(1)
    static let lingerBytes = 1 << 20

    private let errorResponder: ErrorResponder
    private let lingering = Atomic<Int>(0)

    init(errorResponder: @escaping ErrorResponder) { self.errorResponder = errorResponder }

    func reject(_ client: Socket, because reason: String) {
        let answer = Self.answer(errorResponder(503, reason))
        // A new connection's send buffer is empty: one non-blocking send takes the whole answer.
        _ = answer.withUnsafeBytes { try? client.send($0) }
        client.shutdownWrite()
        guard reserve() else { return client.close() }
        let socket: AsyncSocket
        do { socket = try AsyncSocket(client, loop: EventLoopGroup.shared.next()) } catch {
            client.close()
            return release()
        }
        Task(executorPreference: socket.loop) {
            await Self.discardInput(socket)
            socket.close()
            self.release()
        }
    }

    private static func answer(_ response: HTTPResponse) -> [UInt8] {
        var headers = response.headers
        var body: [UInt8] = []
        if case .bytes(let bytes) = response.body { body = bytes }
        headers.remove("Transfer-Encoding")
        headers.set("Content-Length", String(body.count))
        headers.set("Retry-After", "1")
        headers.set("Connection", "close")
        return ResponseEncoder.head(status: 503, headers: headers, version: .http11) + body
    }

    /// Reads and drops (never stores) until the client closes, or the time or byte budget is spent.
    private static func discardInput(_ socket: AsyncSocket) async {
        let deadline = ContinuousClock.now.advanced(by: lingerTime)
        var discarded = 0
        while discarded < lingerBytes, let bytes = try? await socket.read(deadline: deadline), !bytes.isEmpty {
            discarded += bytes.count
        }
    }

    private func reserve() -> Bool {
        if lingering.add(1, ordering: .relaxed).newValue <= Self.maxLingering { return true }
        release()
        return false
    }

    private func release() { lingering.subtract(1, ordering: .relaxed) }
}
