import Glibc
import Sockets
import Synchronization

/// Knows every open connection and whether it is idle, so shutdown can close idle ones at once
/// and wait for busy ones.
final class ConnectionTracker: Sendable {
    private struct State {
        var idle: [Int32: Bool] = [:]
        var draining = false
    }
    private let state = Mutex(State())
    /// Connections opened plus closed, ever: lets an idle-time task see whether anything happened.
    let events = Atomic<Int>(0)

    var count: Int { state.withLock { $0.idle.count } }
    var isDraining: Bool { state.withLock { $0.draining } }

    /// False when the server is at its connection cap or draining.
    func admit(_ fd: Int32, max: Int) -> Bool {
        state.withLock { s in
            guard !s.draining, s.idle.count < max else { return false }
            s.idle[fd] = true
            events.add(1, ordering: .relaxed)
            return true
        }
    }

    /// Marks a connection idle (waiting for a request). Returns false when draining: close it.
    func setIdle(_ fd: Int32, _ idle: Bool) -> Bool {
        state.withLock { s in
            s.idle[fd] = idle
            return !(idle && s.draining)
        }
    }

    func remove(_ fd: Int32) {
        state.withLock { _ = $0.idle.removeValue(forKey: fd) }
        events.add(1, ordering: .relaxed)
    }

    /// Stops admitting; wakes idle connections (their pending read sees end-of-stream) so they close.
    func beginDraining() {
        state.withLock { s in
            s.draining = true
            // Under the lock: `remove` (which runs before close) cannot race, so the fd is still ours.
            for (fd, idle) in s.idle where idle { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Past the grace period: cut everything still open.
    func closeAll() {
        state.withLock { s in
            for fd in s.idle.keys { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }
}
