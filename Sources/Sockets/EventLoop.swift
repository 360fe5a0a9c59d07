import CSystem
import Foundation
import Glibc
import Synchronization

/// One thread that both runs tasks and waits on epoll (edge-triggered) for their sockets, like an
/// event loop in NIO. Connection tasks prefer this executor, so a task whose socket became ready
/// resumes on the thread that saw the readiness: no hand-off to another thread, no wake-up of a
/// sleeping pool thread per event. Work enqueued from other threads wakes the loop via an eventfd.
/// No blocking syscall runs here.
public final class EventLoop: TaskExecutor, Sendable {
    public enum Interest: Sendable { case read, write }

    private struct Waiter {
        let continuation: UnsafeContinuation<Void, Error>
        let deadline: ContinuousClock.Instant?
    }

    /// Edge-triggered epoll reports each transition once; a `ready` flag remembers an edge that
    /// arrived while nobody waited, so the next wait returns at once instead of sleeping forever.
    private struct Slot {
        var reader: Waiter?
        var writer: Waiter?
        /// A parked connection: called once, with true when readable, false on deadline or close.
        var parked: (callback: @Sendable (Bool) -> Void, deadline: ContinuousClock.Instant?)?
        var readReady = false
        var writeReady = false
    }

    private struct Queue {
        var jobs: [UnownedJob] = []
        /// The loop is (about to be) blocked in epoll_wait: an enqueue must wake it.
        var sleeping = false
    }

    private let epfd: Int32
    private let wakeFD: Int32
    private let slots = Mutex<[Int32: Slot]>([:])
    private let queue = Mutex(Queue())
    private let threadID = Atomic<UInt>(0)
    /// Receive buffer for sockets read on this loop. Safe without a lock because it is only
    /// touched by code running on this loop's own thread (`inLoop`), between a `recv` and the copy
    /// of what it received, with no suspension point in between, so no two reads overlap. Sharing
    /// it keeps a 64 KiB scratch area (and its touched page) out of every connection's task.
    nonisolated(unsafe) let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private static let wakeToken = UInt64.max
    private static let sweepInterval: Duration = .milliseconds(100)

    init(name: String) {
        epfd = csystem_epoll_create()
        wakeFD = csystem_eventfd()
        precondition(epfd >= 0 && wakeFD >= 0, "epoll/eventfd unavailable")
        _ = csystem_epoll_add(epfd, wakeFD, csystem_EPOLLIN | csystem_EPOLLET, Self.wakeToken)
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    /// True on this loop's own thread.
    var inLoop: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    // MARK: TaskExecutor

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wake = queue.withLock { q -> Bool in
            q.jobs.append(job)
            guard q.sleeping else { return false }
            q.sleeping = false
            return true
        }
        if wake { _ = csystem_eventfd_signal(wakeFD) }
    }

    // MARK: Readiness

    /// Starts watching a non-blocking descriptor. Call once, before any wait.
    public func register(_ fd: Int32) throws {
        slots.withLock { $0[fd] = Slot() }
        let events = csystem_EPOLLIN | csystem_EPOLLOUT | csystem_EPOLLRDHUP | csystem_EPOLLET
        if csystem_epoll_add(epfd, fd, events, UInt64(UInt32(bitPattern: fd))) != 0 {
            slots.withLock { _ = $0.removeValue(forKey: fd) }
            throw SocketError.last("epoll_ctl")
        }
    }

    /// Stops watching; pending waiters fail with `.closed`. Close the descriptor only afterwards.
    public func deregister(_ fd: Int32) {
        _ = csystem_epoll_del(epfd, fd)
        let slot = slots.withLock { $0.removeValue(forKey: fd) }
        slot?.reader?.continuation.resume(throwing: SocketError.closed)
        slot?.writer?.continuation.resume(throwing: SocketError.closed)
        slot?.parked?.callback(false)
    }

    /// Calls `callback` once: true when `fd` becomes readable (at once if it already is), false
    /// when the deadline passes or the socket is deregistered. Lets an idle connection wait with
    /// no task at all.
    public func whenReadable(_ fd: Int32, deadline: ContinuousClock.Instant?, _ callback: @escaping @Sendable (Bool) -> Void) {
        enum Outcome { case parked, ready, gone }
        let outcome: Outcome = slots.withLock { slots in
            guard var slot = slots[fd] else { return .gone }
            defer { slots[fd] = slot }
            if slot.readReady {
                slot.readReady = false
                return .ready
            }
            slot.parked = (callback, deadline)
            return .parked
        }
        switch outcome {
        case .parked: break
        case .ready: callback(true)
        case .gone: callback(false)
        }
    }

    /// Suspends until `fd` is ready for `interest`, the deadline passes, or the task is cancelled.
    public func wait(_ fd: Int32, for interest: Interest, deadline: ContinuousClock.Instant? = nil) async throws {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, Error>) in
                enum Outcome { case wait, ready, closed, cancelled, expired }
                let outcome: Outcome = slots.withLock { slots in
                    guard var slot = slots[fd] else { return .closed }
                    defer { slots[fd] = slot }
                    switch interest {
                    case .read where slot.readReady:
                        slot.readReady = false
                        return .ready
                    case .write where slot.writeReady:
                        slot.writeReady = false
                        return .ready
                    default:
                        // Checked under the lock: a cancel handler that ran earlier found no waiter.
                        if Task.isCancelled { return .cancelled }
                        if let deadline, deadline <= ContinuousClock.now { return .expired }
                        let waiter = Waiter(continuation: continuation, deadline: deadline)
                        if interest == .read { slot.reader = waiter } else { slot.writer = waiter }
                        return .wait
                    }
                }
                switch outcome {
                case .wait: break
                case .ready: continuation.resume()
                case .closed: continuation.resume(throwing: SocketError.closed)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .expired: continuation.resume(throwing: SocketError.timedOut)
                }
            }
        } onCancel: {
            let waiter: Waiter? = slots.withLock { slots in
                guard var slot = slots[fd] else { return nil }
                defer { slots[fd] = slot }
                if interest == .read { defer { slot.reader = nil }; return slot.reader }
                defer { slot.writer = nil }
                return slot.writer
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    // MARK: The loop

    private func run() {
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        let capacity = 256
        let datas = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        let clock = ContinuousClock()
        var nextSweep = clock.now.advanced(by: Self.sweepInterval)
        let readMask = csystem_EPOLLIN | csystem_EPOLLRDHUP | csystem_EPOLLHUP | csystem_EPOLLERR
        let writeMask = csystem_EPOLLOUT | csystem_EPOLLHUP | csystem_EPOLLERR
        var resumable: [UnsafeContinuation<Void, Error>] = []
        resumable.reserveCapacity(capacity * 2)
        var unparked: [@Sendable (Bool) -> Void] = []
        let executor = asUnownedTaskExecutor()
        while true {
            // Run what is queued; sleep in epoll only when there is nothing left to run.
            let jobs = queue.withLock { q -> [UnownedJob] in
                let jobs = q.jobs
                q.jobs.removeAll(keepingCapacity: true)
                q.sleeping = jobs.isEmpty
                return jobs
            }
            for job in jobs { job.runSynchronously(on: executor) }
            let n = csystem_epoll_wait(epfd, datas, events, Int32(capacity), jobs.isEmpty ? 100 : 0)
            if n > 0 {
                slots.withLock { slots in
                    for i in 0..<Int(n) where datas[i] != Self.wakeToken {
                        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: datas[i]))
                        guard var slot = slots[fd] else { continue }
                        let ev = events[i]
                        if ev & readMask != 0 {
                            if let r = slot.reader {
                                resumable.append(r.continuation)
                                slot.reader = nil
                            } else if let p = slot.parked {
                                unparked.append(p.callback)
                                slot.parked = nil
                            } else {
                                slot.readReady = true
                            }
                        }
                        if ev & writeMask != 0 {
                            if let w = slot.writer { resumable.append(w.continuation); slot.writer = nil } else { slot.writeReady = true }
                        }
                        slots[fd] = slot
                    }
                }
                // Resuming enqueues each task on its preferred executor: for connection tasks,
                // this loop, so they run in the next turn on this thread.
                for c in resumable { c.resume() }
                resumable.removeAll(keepingCapacity: true)
                for callback in unparked { callback(true) }
                unparked.removeAll(keepingCapacity: true)
                if (0..<Int(n)).contains(where: { datas[$0] == Self.wakeToken }) { _ = csystem_eventfd_drain(wakeFD) }
            }
            let now = clock.now
            if now >= nextSweep {
                nextSweep = now.advanced(by: Self.sweepInterval)
                sweepExpired(now: now)
            }
        }
    }

    /// Deadlines are checked every 100 ms: timeouts here are seconds long, so that is precise enough
    /// and costs nothing per wait.
    private func sweepExpired(now: ContinuousClock.Instant) {
        var expired: [UnsafeContinuation<Void, Error>] = []
        var expiredParked: [@Sendable (Bool) -> Void] = []
        slots.withLock { slots in
            for (fd, var slot) in slots {
                var changed = false
                if let p = slot.parked, let d = p.deadline, d <= now { expiredParked.append(p.callback); slot.parked = nil; changed = true }
                if let r = slot.reader, let d = r.deadline, d <= now { expired.append(r.continuation); slot.reader = nil; changed = true }
                if let w = slot.writer, let d = w.deadline, d <= now { expired.append(w.continuation); slot.writer = nil; changed = true }
                if changed { slots[fd] = slot }
            }
        }
        for c in expired { c.resume(throwing: SocketError.timedOut) }
        for callback in expiredParked { callback(false) }
    }
}
