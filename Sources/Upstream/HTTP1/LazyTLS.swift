import Synchronization
import TLS

/// The TLS context, built on the first https call: loading the system's CA store costs ~100 ms of
/// CPU and ~1 MiB, which a proxy that only calls http upstreams (a local Ollama) never needs.
final class LazyTLS: Sendable {
    private let make: @Sendable () throws(TLSError) -> TLSContext
    private let built = Mutex<Result<TLSContext, TLSError>?>(nil)

    init(_ make: @escaping @Sendable () throws(TLSError) -> TLSContext) { self.make = make }

    init(ready: TLSContext?, problem: String?) {
        let result: Result<TLSContext, TLSError> = ready.map { .success($0) }
            ?? .failure(TLSError(.configuration, problem ?? "no TLS context"))
        make = { () throws(TLSError) -> TLSContext in try result.get() }
    }

    func get() throws(TLSError) -> TLSContext {
        // Built under the lock: two first calls at once must not load the store twice.
        try built.withLock { built throws(TLSError) -> TLSContext in
            if let built { return try built.get() }
            let result: Result<TLSContext, TLSError>
            do throws(TLSError) { result = .success(try make()) } catch { result = .failure(error) }
            built = result
            return try result.get()
        }
    }
}
