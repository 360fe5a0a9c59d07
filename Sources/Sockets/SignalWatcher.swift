import Dispatch
import Glibc

/// Delivers POSIX signals as an async stream (handlers run on Dispatch, never in signal context).
/// Keep it alive as long as signals should arrive: released, its sources stop delivering.
public final class SignalWatcher {
    public let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    public init(_ signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            return source
        }
    }
}
