import Glibc
import Sockets
import Synchronization
import TLS

/// Terminates TLS in front of a plain TCP server (the fake upstream, a raw scripted peer): an
/// https upstream for tests and benches, with a certificate the test generated. What the
/// backend does to its connection, the front does to the client's: a FIN closes (close_notify),
/// a reset resets, so hostile behaviour reaches the proxy over TLS unchanged.
public final class TLSFront: Sendable {
    public let port: UInt16
    private let listener: AsyncSocket
    private let acceptor: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let stopping = Stopping()
    /// Connections handshaken so far (tests: did the proxy reuse its connection?).
    public var handshakes: Int { counter.value.load(ordering: .relaxed) }
    private let counter = Counter()

    final class Counter: Sendable { let value = Atomic<Int>(0) }
    final class Stopping: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    public init(backendPort: UInt16, certificate: String, privateKey: String, host: String = "127.0.0.1", port: UInt16 = 0) throws {
        let context = try TLSContext(serverCertificate: certificate, privateKey: privateKey)
        listener = try AsyncSocket(Socket.listen(host: host, port: port))
        self.port = listener.socket.localPort()
        let task = Task { [listener, counter, stopping] in
            await withTaskExecutorPreference(listener.loop) {
                while !stopping.isSet {
                    do {
                        while let raw = try listener.socket.accept() {
                            Task { await Self.relay(raw, backendPort: backendPort, context: context, counter: counter) }
                        }
                        try await listener.waitReadable()
                    } catch {
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                }
            }
            // Closed here, by the loop that used it: closed while the loop might still run, its
            // number could go to another listener in this process and have its connections taken.
            listener.socket.close()
        }
        acceptor.withLock { $0 = task }
    }

    deinit { close() }

    public func close() {
        let task = acceptor.withLock { task in defer { task = nil }; return task }
        guard let task else { return }
        stopping.set()
        listener.loop.deregister(listener.fd)
        task.cancel()
    }

    private static func relay(_ raw: Socket, backendPort: UInt16, context: TLSContext, counter: Counter) async {
        // Each event leaves at once (Nagle would hold a small record until the peer's delayed ACK).
        try? raw.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        guard let client = try? AsyncSocket(raw) else { raw.close(); return }
        let tls: TLSConnection
        do {
            tls = try await TLSConnection.accept(client, context: context, deadline: .now + .seconds(10))
        } catch {
            return
        }
        counter.value.add(1, ordering: .relaxed)
        guard let backend = try? await AsyncSocket.connect(host: "127.0.0.1", port: backendPort, deadline: .now + .seconds(5)) else {
            tls.reset()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // client → backend
                while let bytes = try? await tls.read(), !bytes.isEmpty {
                    guard (try? await backend.write(bytes)) != nil else { break }
                }
                backend.socket.shutdownWrite()
            }
            group.addTask {
                // backend → client; its ending decides how the client's connection ends
                while true {
                    do {
                        let bytes = try await backend.read()
                        if bytes.isEmpty { tls.close(); break }
                        try await tls.write(bytes)
                    } catch let error as SocketError where error.isDisconnect {
                        tls.reset()
                        break
                    } catch {
                        tls.close()
                        break
                    }
                }
            }
            await group.next()
            // Whichever side ended first, give the other a moment to pass on what it has.
            try? await Task.sleep(for: .milliseconds(50))
            group.cancelAll()
        }
        tls.close()
        backend.close()
    }
}
