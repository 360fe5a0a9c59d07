import OpenAIWire
import Synchronization

/// Bounds what a streamed run has produced for the client but the client has not taken yet.
/// The run charges each event it emits; the response writer releases it once written; a stage
/// reads its upstream only while there is room. So a client that stops reading stops the reads,
/// and TCP backpressure reaches the upstream instead of the proxy's memory growing.
public final class RelayBudget: Sendable {
    public let capacity: Int
    private struct State {
        var outstanding = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    public init(capacity: Int = 1 << 20) { self.capacity = capacity }

    public var outstanding: Int { state.withLock { $0.outstanding } }

    func charge(_ bytes: Int) {
        state.withLock { $0.outstanding += bytes }
    }

    /// The writer has written (or dropped) an event of this cost.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.outstanding = max(0, s.outstanding - bytes)
            guard s.outstanding < capacity else { return [] }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in ready { waiter.resume() }
    }

    /// Returns when less than `capacity` is outstanding, or when the task is cancelled.
    func waitForRoom() async {
        // The common case, a client that keeps up: no continuation, no cancellation handler.
        let id = state.withLock { s -> Int? in
            guard s.outstanding >= capacity else { return nil }
            s.nextWaiter += 1
            return s.nextWaiter
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.outstanding < capacity || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

extension PipelineEvent {
    /// What an event costs against the budget: about the bytes it becomes on the wire. The same
    /// function on both sides keeps charges and releases equal.
    public var relayCost: Int {
        switch self {
        case .content(let text): return text.utf8.count
        case .delta(let object): return JSONValue.object(object).approximateSize
        case .finish, .usage, .fellBack, .failed, .upstreamFields, .report: return 0
        }
    }
}

extension JSONValue {
    var approximateSize: Int {
        switch self {
        case .null, .bool: return 5
        case .number(let n): return n.utf8.count
        case .string(let s): return s.utf8.count + 2
        case .array(let a): return a.reduce(2) { $0 + $1.approximateSize + 1 }
        case .object(let o): return o.entries.reduce(2) { $0 + $1.key.utf8.count + 4 + $1.value.approximateSize }
        }
    }
}
