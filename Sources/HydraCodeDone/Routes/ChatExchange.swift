import Synchronization

/// One chat request's hold on the proxy, whatever answers it (JSON, SSE or passthrough): the
/// admission slot it occupies and the `done` line that closes its log. Both are given up here
/// and nowhere else, exactly once, by whichever responder ends the request. (A request whose
/// task is torn down without `finish` still frees its slot: `Permit` releases on deinit.)
final class ChatExchange: Sendable {
    let admission: Admission
    let observer: RequestObserver
    private let permit = Mutex<Permit?>(nil)
    private let finished = Atomic<Bool>(false)

    init(admission: Admission, observer: RequestObserver) {
        self.admission = admission
        self.observer = observer
    }

    /// Waits for a slot (in the queue, in order); false when the queue is full or the client left.
    func admit() async -> Bool {
        guard let granted = await admission.acquire() else { return false }
        permit.withLock { $0 = granted }
        return true
    }

    /// The request is over: its slot goes to the next in line and its outcome is logged.
    func finish(status: Int, extra: String = "") {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        permit.withLock { p in
            p?.release()
            p = nil
        }
        observer.done(status: status, extra: extra)
    }
}
