import Dispatch
import Synchronization

/// Runs async work to completion from a synchronous test (the test thread blocks; the work runs
/// on the concurrency pool, like the server).
@discardableResult
func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let semaphore = DispatchSemaphore(value: 0)
    let box = Locked<T?>(nil)
    Task.detached {
        let value = await body()
        box.set(value)
        semaphore.signal()
    }
    semaphore.wait()
    return box.value!
}

/// A value shared across threads.
final class Locked<T: Sendable>: Sendable {
    private let storage: Mutex<T>
    init(_ value: T) { storage = Mutex(value) }
    var value: T { storage.withLock { $0 } }
    func set(_ value: T) { storage.withLock { $0 = value } }
    func update<R: Sendable>(_ body: (inout T) -> R) -> R { storage.withLock { body(&$0) } }
}
