import Dispatch
import Foundation
import Sockets

/// The `fake-upstream` executable. Lives here so signal handlers are not MainActor-isolated.
public enum FakeUpstreamCommand {
    public static func run(_ arguments: [String]) async -> Int32 {
        var host = "127.0.0.1"
        var port: UInt16 = 0
        var args = arguments[...]
        while let arg = args.popFirst() {
            switch arg {
            case "--host": host = args.popFirst() ?? host
            case "--port": port = args.popFirst().flatMap(UInt16.init) ?? port
            default:
                FileHandle.standardError.write(Data("usage: fake-upstream [--host H] [--port P]\n".utf8))
                return 64
            }
        }
        do {
            let fake = try FakeUpstream(host: host, port: port)
            fake.start()
            print("listening on \(host):\(fake.port)")
            fflush(nil)
            let signals = SignalWatcher([SIGTERM, SIGINT])
            for await _ in signals.stream { break }
            withExtendedLifetime(signals) {}
            await fake.shutdown()
            return 0
        } catch {
            FileHandle.standardError.write(Data("fake-upstream: \(error)\n".utf8))
            return 1
        }
    }
}
