import Synchronization

/// At most `limit` chat requests in flight; beyond that a bounded FIFO queue; beyond that, 429.
/// A local Ollama serves one request at a time: a flood waits its turn instead of timing out.
public final class Admission: Sendable {
    private struct State {
        var inFlight = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())
    let limit: Int
    let maxQueued: Int

    init(limit: Int, maxQueued: Int) {
        self.limit = limit
        self.maxQueued = maxQueued
    }

    var inFlight: Int { state.withLock { $0.inFlight } }
    var queued: Int { state.withLock { $0.waiters.count } }

    /// True when a request arriving now would be refused (every slot busy, queue full).
    var isSaturated: Bool { state.withLock { $0.inFlight >= limit && $0.waiters.count >= maxQueued } }

    /// A permit, or nil when the queue is full (or the waiting client went away).
    func acquire() async -> Permit? {
        enum Fast { case granted, full, wait(UInt64) }
        let fast: Fast = state.withLock { s in
            if s.inFlight < limit { s.inFlight += 1; return .granted }
            if s.waiters.count >= maxQueued { return .full }
            s.nextID += 1
            return .wait(s.nextID)
        }
        switch fast {
        case .granted: return Permit(self)
        case .full: return nil
        case .wait(let id):
            let granted = await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                    let cancelled = state.withLock { s -> Bool in
                        if Task.isCancelled { return true }
                        // A slot may have freed up between the fast path and here.
                        if s.inFlight < limit { s.inFlight += 1; c.resume(returning: true); return false }
                        s.waiters.append((id, c))
                        return false
                    }
                    if cancelled { c.resume(returning: false) }
                }
            } onCancel: {
                let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                    guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return s.waiters.remove(at: i).continuation
                }
                waiter?.resume(returning: false)
            }
            return granted ? Permit(self) : nil
        }
    }

    /// Hands the slot straight to the oldest waiter, or frees it.
    fileprivate func release() {
        let next = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            if !s.waiters.isEmpty { return s.waiters.removeFirst().continuation }
            s.inFlight -= 1
            return nil
        }
        next?.resume(returning: true)
    }
}

/// Released exactly once, when the response is done or abandoned, whichever comes first.
final class Permit: Sendable {
    private let admission: Admission
    private let released = Atomic<Bool>(false)

    fileprivate init(_ admission: Admission) { self.admission = admission }

    func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { admission.release() }
    }

    deinit { release() }
}
