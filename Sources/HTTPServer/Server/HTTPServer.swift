import CSystem
import Glibc
import Sockets
import Synchronization

/// Accepts connections and hands each to its own `ConnectionHandler`; drains on shutdown.
public final class HTTPServer: Sendable {
    public let limits: ServerLimits
    private let handler: any HTTPHandler
    private let errorResponder: ErrorResponder
    private let listener: AsyncSocket
    private let tracker = ConnectionTracker()
    private let rejecter: ConnectionRejecter
    /// Where the accept loop is. The listening descriptor is closed only once the loop has left:
    /// closed earlier, its number could go to another server's listener in this process, and a
    /// loop still running would accept (and, draining, refuse) that server's connections.
    private let acceptState = Mutex(AcceptState.notStarted)
    private enum AcceptState { case notStarted, running, stopping, exited, closed }
    /// The bound port (useful when started on port 0).
    public let port: UInt16

    public init(host: String, port: UInt16, limits: ServerLimits = ServerLimits(), handler: any HTTPHandler,
                errorResponder: @escaping ErrorResponder = HTTPServer.plainError) throws {
        signal(SIGPIPE, SIG_IGN)
        let socket = try Socket.listen(host: host, port: port)
        self.listener = try AsyncSocket(socket)
        self.port = socket.localPort()
        self.limits = limits
        self.handler = handler
        self.errorResponder = errorResponder
        self.rejecter = ConnectionRejecter(errorResponder: errorResponder)
    }

    public static let plainError: ErrorResponder = { status, message in
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain"], text: message + "\n")
    }

    public var openConnections: Int { tracker.count }

    /// Once connections stop opening and closing after a burst, hands freed heap memory back to
    /// the system, so RSS returns close to where it started instead of staying at the burst's peak.
    public func releaseMemoryWhenIdle(every interval: Duration = .seconds(1)) async {
        var seen = tracker.events.load(ordering: .relaxed)
        var dirty = false
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let now = tracker.events.load(ordering: .relaxed)
            if now != seen {
                seen = now
                dirty = true
            } else if dirty {
                dirty = false
                _ = csystem_malloc_trim()
            }
        }
    }

    /// Accepts until `shutdown` closes the listener.
    public func run() async {
        let starts = acceptState.withLock { state -> Bool in
            guard state == .notStarted else { return false }
            state = .running
            return true
        }
        guard starts else { return }
        await withTaskExecutorPreference(listener.loop) { await self.acceptLoop() }
        acceptState.withLock { if $0 != .closed { $0 = .exited } }
    }

    private func acceptLoop() async {
        while acceptState.withLock({ $0 == .running }) {
            do {
                while let client = try listener.socket.accept() { start(client) }
                try await listener.waitReadable()
            } catch SocketError.system(_, let code) where code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                // Out of descriptors: the pending connection stays queued; retry shortly.
                try? await Task.sleep(for: .milliseconds(50))
            } catch {
                return
            }
        }
    }

    private func start(_ client: Socket) {
        try? client.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        guard tracker.admit(client.fd, max: limits.maxConnections) else {
            return rejecter.reject(client, because: tracker.isDraining ? "Server shutting down" : "Too many open connections; retry shortly")
        }
        let socket: AsyncSocket
        do { socket = try AsyncSocket(client, loop: EventLoopGroup.shared.next()) } catch {
            tracker.remove(client.fd)
            client.close()
            return
        }
        let connection = ConnectionHandler(socket: socket, handler: handler, limits: limits,
                                           tracker: tracker, errorResponder: errorResponder)
        // The connection's task runs on the loop that watches its socket (see EventLoop).
        Task(executorPreference: socket.loop) { await connection.run() }
    }

    /// Stops the accept loop (a parked wait fails at once), waits for it to leave, then closes
    /// the descriptor.
    private func closeListener() async {
        enum Step { case alreadyClosed, wait, close }
        let step = acceptState.withLock { state -> Step in
            switch state {
            case .closed, .stopping: return .alreadyClosed
            case .running: state = .stopping; return .wait
            case .notStarted, .exited: state = .stopping; return .close
            }
        }
        if step == .alreadyClosed { return }
        let wasRunning = step == .wait
        listener.loop.deregister(listener.fd)
        if wasRunning {
            let deadline = ContinuousClock.now.advanced(by: .seconds(2))
            while acceptState.withLock({ $0 != .exited }), ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        listener.socket.close()
        acceptState.withLock { $0 = .closed }
    }

    /// Stops accepting, closes idle connections, lets in-flight responses finish within `grace`,
    /// then cuts what is left.
    public func shutdown(grace: Duration) async {
        await closeListener()
        tracker.beginDraining()
        let deadline = ContinuousClock.now.advanced(by: grace)
        while tracker.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        tracker.closeAll()
        let hardDeadline = ContinuousClock.now.advanced(by: .seconds(2))
        while tracker.count > 0, ContinuousClock.now < hardDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
