import Synchronization

/// Whether this replica should get new traffic: `/health/ready` says no once SIGTERM arrived
/// (while in-flight requests drain) and while the admission queue is full. `/health` stays
/// the liveness answer: a draining replica is alive.
public final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)
    private let admission = Mutex<Admission?>(nil)

    public init() {}

    /// The admission whose queue decides "saturated" and whose requests a drain waits for.
    func track(_ admission: Admission) { self.admission.withLock { $0 = admission } }

    /// Chat requests running now (the drain waits for these).
    var inFlight: Int { admission.withLock { $0 }?.inFlight ?? 0 }

    public var isDraining: Bool { draining.load(ordering: .acquiring) }

    public func beginDraining() { draining.store(true, ordering: .releasing) }
}
