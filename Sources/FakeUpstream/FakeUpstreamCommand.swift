import Dispatch
import Foundation
import Sockets

/// The `fake-upstream` executable. Lives here so signal handlers are not MainActor-isolated.
public enum FakeUpstreamCommand {
    public static func run(_ arguments: [String]) async -> Int32 {
        var host = "127.0.0.1"
        var port: UInt16 = 0
        var tlsPort: UInt16?
        var certificate: String?
        var key: String?
        var args = arguments[...]
        while let arg = args.popFirst() {
            switch arg {
            case "--host": host = args.popFirst() ?? host
            case "--port": port = args.popFirst().flatMap(UInt16.init) ?? port
            case "--tls-port": tlsPort = args.popFirst().flatMap(UInt16.init)
            case "--tls-cert": certificate = args.popFirst()
            case "--tls-key": key = args.popFirst()
            default:
                FileHandle.standardError.write(Data("usage: fake-upstream [--host H] [--port P] [--tls-cert PEM --tls-key PEM [--tls-port P]]\n".utf8))
                return 64
            }
        }
        do {
            let fake = try FakeUpstream(host: host, port: port)
            fake.start()
            var front: TLSFront?
            if let certificate, let key {
                front = try TLSFront(backendPort: fake.port, certificate: certificate, privateKey: key, host: host, port: tlsPort ?? 0)
            }
            print("listening on \(host):\(fake.port)")
            if let front { print("tls listening on \(host):\(front.port)") }
            fflush(nil)
            let signals = SignalWatcher([SIGTERM, SIGINT])
            for await _ in signals.stream { break }
            withExtendedLifetime(signals) {}
            front?.close()
            await fake.shutdown()
            return 0
        } catch {
            FileHandle.standardError.write(Data("fake-upstream: \(error)\n".utf8))
            return 1
        }
    }
}
